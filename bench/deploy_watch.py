"""A worker's CPU and memory while it runs many deploy watches at once, beside a baseline.

    .venv/bin/python bench/deploy_watch.py [--watches 200] [--baseline 1] [--window 60] [--sample 10]
                                            [--runs 3] [--temporal HOST:PORT]

Starts a Temporal dev server (in memory; or `--temporal HOST:PORT`) and, for each size — the
baseline (`--baseline` watches, 1 by default) and `--watches` — a worker process of its own,
registered as medic's worker registers (`workers.main.WORKFLOWS`, its sandboxed workflow runner and
workflow cache), on its own task queue. The deploy watch's three activities in that worker are
light in-process fakes by name (no Argo CD, Prometheus or store behind them: a sample answers at
once), so what is measured is the watches' orchestration on the worker — workflow tasks, timers,
activity dispatch — not Prometheus' queries. Then all the watches start at once, each a
`DeploymentWatchWorkflow` of its own Application, with an analysis window of `--window` seconds
sampled every `--sample` seconds (one watch in ten sees its p99 rise 2.5× and must end degraded,
the others healthy: a watch that ends otherwise makes the benchmark exit with status 1).

Reported per size, the median of `--runs` runs: the time to start all the watches (client-side,
all started concurrently), the time until every one has its verdict (from the first start), the
worker's CPU seconds and CPU % over that span (user + system, /proc/<pid>/stat or psutil), its
RSS before the watches (idle, after start-up), its steady RSS (the median while the watches wait
on their timers) and its peak RSS.

Measured with the defaults (2 shared cores, /proc meter, median of 3 runs), 1 watch vs 200:
started in 0.01 vs 0.91 s; every verdict at 60.07 vs 64.73 s; worker CPU 0.12 vs 17.19 s
(0.2 % vs 25.1 % of one core over the span); RSS idle 171.7 vs 172.2 MB, steady 174.3 vs
197.8 MB, peak 176.7 vs 207.7 MB: about 0.12 MB steady and 0.09 CPU-seconds per watch of a
minute (7 samples).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import regopy  # noqa: F401  (before temporalio loads the C++ runtime: policies/load_order.py)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.procstat import ProcessMeter  # noqa: E402
from cli.devserver import DevServer, free_port  # noqa: E402
from domain.deploy.model import DeployEvent, Signals, WatchRules, WorkloadRef  # noqa: E402
from domain.deploy.watch import (  # noqa: E402
    DeployWatchPlan,
    FinishWatch,
    SampleInput,
    SampleResult,
    WatchResult,
    WorkloadSignals,
)

BASELINE_WINDOW = 600
BEFORE = Signals(request_rate=20, error_ratio=0.001, p99_ms=180, restarts=0, ready_ratio=1, oom_kills=0)
SLOWER = BEFORE.model_copy(update={"p99_ms": 450})
# One watch in this many sees its p99 rise, and must end degraded.
DEGRADED_EVERY = 10
METER_EVERY = 0.1  # seconds between two readings of the worker's RSS


def degraded(application: str) -> bool:
    return int(application.rsplit("-", 1)[1]) % DEGRADED_EVERY == 0


# --- the worker process ----------------------------------------------------------------------


def fake_activities(rules: WatchRules) -> list[Any]:
    from temporalio import activity

    @activity.defn(name="plan_deploy_watch")
    async def plan(event: DeployEvent) -> DeployWatchPlan:
        assert event.synced_at is not None
        workload = WorkloadRef(namespace="bench", kind="Deployment", name=event.application)
        return DeployWatchPlan(event=event, synced_at=event.synced_at, workloads=[workload], rules=rules)

    @activity.defn(name="sample_deploy_signals")
    async def sample(window: SampleInput) -> SampleResult:
        baseline = (window.end - window.start).total_seconds() >= BASELINE_WINDOW
        signals = BEFORE if baseline or not degraded(window.application) else SLOWER
        return SampleResult(
            signals=[WorkloadSignals(workload=w, signals=signals) for w in window.workloads],
            health="Healthy",
        )

    @activity.defn(name="finish_deploy_watch")
    async def finish(_: FinishWatch) -> bool:
        return True

    return [plan, sample, finish]


async def serve(address: str, queue: str, window: int, sample: int) -> None:
    """The worker: medic's workflows and runner, the deploy watch's activities faked; it says
    `ready` on stdout once polling, and stops when stdin closes."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    from domain.settings import Settings
    from integrations.temporal.converter import DATA_CONVERTER
    from workers.main import WORKFLOWS, workflow_runner

    rules = WatchRules(
        analysis_window_seconds=window,
        sample_interval_seconds=sample,
        baseline_window_seconds=BASELINE_WINDOW,
    )
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        activities=fake_activities(rules),
        max_cached_workflows=Settings().worker_workflow_cache,
    ):
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


@contextlib.contextmanager
def worker_process(address: str, queue: str, window: int, sample: int) -> Iterator[subprocess.Popen[str]]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", address, queue]
    command += ["--window", str(window), "--sample", str(sample)]
    process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"the worker did not start (exit {process.poll()})")
        yield process
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# --- the measurement -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    watches: int
    start_seconds: float  # to start every watch
    verdict_seconds: float  # from the first start to the last verdict
    cpu_seconds: float
    idle_rss: int
    steady_rss: int
    peak_rss: int
    problems: tuple[str, ...]

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu_seconds / self.verdict_seconds if self.verdict_seconds else 0.0


async def one_run(address: str, watches: int, window: int, sample: int) -> Run:
    from temporalio.client import Client

    from integrations.temporal.converter import DATA_CONVERTER
    from workflows.deploy import DeploymentWatchWorkflow

    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    queue = f"bench-deploy-{uuid.uuid4().hex[:8]}"
    with worker_process(address, queue, window, sample) as process:
        meter = ProcessMeter(process.pid)
        await asyncio.sleep(0.5)  # the worker settles after its first polls
        idle = meter.sample()
        rss: list[int] = [idle.rss_bytes]
        started_all = asyncio.Event()
        steady: list[int] = []

        async def watch_memory() -> None:
            while True:
                now = meter.sample().rss_bytes
                rss.append(now)
                if started_all.is_set():
                    steady.append(now)
                await asyncio.sleep(METER_EVERY)

        metering = asyncio.create_task(watch_memory())
        synced = datetime.now(UTC)
        run = uuid.uuid4().hex[:6]
        began = time.perf_counter()
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    DeploymentWatchWorkflow.run,
                    DeployEvent(
                        application=f"bench-{run}-{i}",
                        app_namespace="argocd",
                        revision=f"{i:040x}",
                        synced_at=synced,
                        source="notification",
                    ),
                    id=f"bench-deploy-{run}-{i}",
                    task_queue=queue,
                )
                for i in range(watches)
            )
        )
        start_seconds = time.perf_counter() - began
        started_all.set()
        results: list[WatchResult] = await asyncio.gather(*(h.result() for h in handles))
        verdict_seconds = time.perf_counter() - began
        metering.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await metering
        done = meter.sample()
    problems = []
    for i, result in enumerate(results):
        expected = "degraded" if i % DEGRADED_EVERY == 0 else "healthy"
        if result.state != expected:
            problems.append(f"watch {i} ended {result.state}, expected {expected}: {result.summary}")
    # steady: while the watches wait on their timers (the last sample's verdicts excluded)
    waiting = steady[: max(1, len(steady) * 9 // 10)] or [done.rss_bytes]
    return Run(
        watches=watches,
        start_seconds=start_seconds,
        verdict_seconds=verdict_seconds,
        cpu_seconds=done.cpu_seconds - idle.cpu_seconds,
        idle_rss=idle.rss_bytes,
        steady_rss=int(statistics.median(waiting)),
        peak_rss=max(rss + [done.rss_bytes]),
        problems=tuple(problems),
    )


FIGURES: list[tuple[str, str, Any]] = [
    ("time to start all watches", "s", lambda r: r.start_seconds),
    ("time until every verdict", "s", lambda r: r.verdict_seconds),
    ("worker CPU", "s", lambda r: r.cpu_seconds),
    ("worker CPU", "%", lambda r: r.cpu_percent),
    ("worker RSS idle", "MB", lambda r: r.idle_rss / 2**20),
    ("worker RSS steady", "MB", lambda r: r.steady_rss / 2**20),
    ("worker RSS peak", "MB", lambda r: r.peak_rss / 2**20),
]


def summarise(sizes: Sequence[Sequence[Run]]) -> list[str]:
    """The medians of each size's runs, side by side."""
    runs = len(sizes[0])
    header = f"{'median of ' + str(runs) + ' run' + ('s' if runs != 1 else ''):<30}"
    header += "".join(
        f"{str(r[0].watches) + ' watch' + ('es' if r[0].watches != 1 else ''):>14}" for r in sizes
    )
    lines = [header]
    for name, unit, figure in FIGURES:
        row = f"{name + ' (' + unit + ')':<30}"
        row += "".join(f"{statistics.median(figure(r) for r in size):>14.2f}" for size in sizes)
        lines.append(row)
    return lines


def print_run(number: int, run: Run) -> None:
    print(
        f"run {number}  {run.watches:>4} watches: started in {run.start_seconds:6.2f} s, "
        f"every verdict at {run.verdict_seconds:6.2f} s; worker CPU {run.cpu_seconds:6.2f} s "
        f"({run.cpu_percent:5.1f} %), RSS idle {run.idle_rss / 2**20:6.1f} MB, "
        f"steady {run.steady_rss / 2**20:6.1f} MB, peak {run.peak_rss / 2**20:6.1f} MB",
        flush=True,
    )


async def bench(address: str, sizes: Sequence[int], window: int, sample: int, runs: int) -> list[list[Run]]:
    results: list[list[Run]] = [[] for _ in sizes]
    for number in range(1, runs + 1):
        # the sizes take turns within a run, so that a busy moment of the machine falls on each
        order = list(enumerate(sizes)) if number % 2 else list(reversed(list(enumerate(sizes))))
        for index, watches in order:
            run = await one_run(address, watches, window, sample)
            print_run(number, run)
            results[index].append(run)
    return results


def main(argv: Sequence[str] | None = None) -> list[list[Run]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--watches", type=int, default=200, help="concurrent watches measured")
    parser.add_argument("--baseline", type=int, default=1, help="watches of the baseline beside it")
    parser.add_argument("--window", type=int, default=60, help="analysis window, seconds")
    parser.add_argument("--sample", type=int, default=10, help="sample interval, seconds")
    parser.add_argument("--runs", type=int, default=3, help="runs; medians are reported")
    parser.add_argument("--temporal", default="", help="an existing Temporal server (default: a dev server)")
    parser.add_argument("--serve", nargs=2, metavar=("ADDRESS", "QUEUE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.serve[0], args.serve[1], args.window, args.sample))
        return []
    if args.watches < 1 or args.baseline < 0 or args.runs < 1:
        parser.error("--watches and --runs must be at least 1, --baseline at least 0")
    if not 0 < args.sample <= args.window:
        parser.error(f"--sample ({args.sample}) must be positive and at most --window ({args.window})")
    sizes = [args.baseline, args.watches]
    with contextlib.ExitStack() as stack:
        address = args.temporal or stack.enter_context(DevServer(port=free_port(), ui_port=None)).address
        print(
            f"Temporal {address}; worker: medic's workflows and runner, deploy-watch activities faked in "
            f"process (no Argo CD, Prometheus or store); window {args.window} s sampled every "
            f"{args.sample} s; {args.runs} run(s) of {args.baseline} and {args.watches} watches "
            f"(cpus {os.cpu_count()}; meter {ProcessMeter(os.getpid()).source})",
            flush=True,
        )
        results = asyncio.run(bench(address, sizes, args.window, args.sample, args.runs))
    print("\n".join(summarise(results)))
    problems = [p for size in results for run in size for p in run.problems]
    for problem in problems[:20]:
        print(f"PROBLEM: {problem}")
    if problems and argv is None:
        raise SystemExit(1)
    return results


if __name__ == "__main__":
    main()
