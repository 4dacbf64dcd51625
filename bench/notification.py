"""What reading one notification costs the gateway, step by step, hot and after a pause.

    .venv/bin/python bench/notification.py [--count 500] [--pause-ms 4]

`gateway.ingest.read_notification` — strict JSON, validation, the cluster split, the clipping,
redaction, fitting and the new incident's start input — on the captured Alertmanager notification
(each its own alert group), timed whole and per step: once back to back ("hot": the process's
code and data in the CPU's caches), and once with a pause between notifications ("after a pause":
as at concurrency 1, where the gateway waits for the next notification while Temporal and the
sender run). The medians after the first tenth are printed. No Temporal, no HTTP.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest import bodies  # noqa: E402  (bench/ingest.py: the notifications it posts)

import gateway.ingest as gateway_ingest  # noqa: E402
from domain.settings import Settings  # noqa: E402

# The steps of `read_notification`, as `gateway.ingest` calls them.
STEPS = (
    "parse_json",
    "alerts_of_cluster",
    "group_workflow_id",
    "clip_group",
    "redact_group",
    "fit_group",
    "incident_from_group",
    "remediation_input_for",
    "clipped_values",
)


def timed(name: str, function: Callable[..., Any], spent: dict[str, list[float]]) -> Callable[..., Any]:
    def step(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent.setdefault(name, []).append(time.perf_counter() - started)

    return step


def measure(count: int, pause: float) -> tuple[float, dict[str, float]]:
    """The whole read's median and each step's (its calls per notification summed), in ms."""
    settings = Settings(home=str(REPO / ".medic"), webhook_token="bench")
    spent: dict[str, list[float]] = {}
    originals = {name: getattr(gateway_ingest, name) for name in STEPS}
    validate = gateway_ingest.AlertGroup.model_validate
    for name, function in originals.items():
        setattr(gateway_ingest, name, timed(name, function, spent))
    gateway_ingest.AlertGroup.model_validate = timed("validate", validate, spent)  # type: ignore[method-assign]
    whole = []
    try:
        for body in bodies(count, f"read-{pause}"):
            started = time.perf_counter()
            gateway_ingest.read_notification(settings, body)
            whole.append(time.perf_counter() - started)
            if pause:
                time.sleep(pause)
    finally:
        for name, function in originals.items():
            setattr(gateway_ingest, name, function)
        del gateway_ingest.AlertGroup.model_validate  # BaseModel's again
    skip = count // 10
    per_step = {}
    for name, values in spent.items():
        calls = len(values) // count
        sums = [sum(values[i * calls : (i + 1) * calls]) for i in range(count)]
        per_step[name] = statistics.median(sums[skip:]) * 1000
    return statistics.median(whole[skip:]) * 1000, per_step


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=500, help="notifications per measurement")
    parser.add_argument("--pause-ms", type=float, default=4.0, help="the pause between notifications")
    args = parser.parse_args(argv)
    if args.count < 10 or args.pause_ms <= 0:
        parser.error("--count must be at least 10 and --pause-ms positive")
    hot_whole, hot = measure(args.count, 0.0)
    cold_whole, cold = measure(args.count, args.pause_ms / 1000)
    print(f"read_notification, median of {args.count} notifications (ms)")
    print(f"{'step':<24}{'hot':>8}{'after ' + format(args.pause_ms, 'g') + ' ms':>14}")
    for name in sorted(hot, key=lambda n: -cold.get(n, 0.0)):
        print(f"{name:<24}{hot[name]:>8.3f}{cold.get(name, 0.0):>14.3f}")
    print(f"{'whole':<24}{hot_whole:>8.3f}{cold_whole:>14.3f}")


if __name__ == "__main__":
    main()
