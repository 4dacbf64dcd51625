"""Drift scan time and throughput on the embedded stack, against a generated Argo CD estate.

    .venv/bin/python bench/drift.py [--repeats 3] [--drifted 0.01]
    .venv/bin/python bench/drift.py --resources 1000 --apps 50

Starts a Temporal dev server (in memory), a fake Argo CD serving a generated estate
(`tests.fakes.estate`: Deployments, Services, ConfigMaps, ServiceAccounts, their live states with
server defaults, status and metadata noise) and a medic worker on a task queue of its own, then
runs `DriftScanWorkflow` (report only: no remediation) over the whole estate, as a client would:
start to result. By default for 100 resources over 5 Applications, 1,000 over 50 and 5,000 over
250 (20 resources per Application each time), each size once to warm up and then `--repeats`
times; the median is reported. The last column is the time per resource relative to the 1,000
resource estate: near 1.00 means the scan grows linearly (a fixed cost per scan, the workflow's own
steps, lifts it for the smallest estate); a least-squares line through the sizes says the same
with its R² and its marginal rate.

Each scan is checked against the estate: every Application and resource scanned, and exactly the
Applications with planted drift (`--drifted`, a fraction of the resources) found drifted; a scan
that does not match is reported and the benchmark exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cli.devserver import DevServer, free_port  # noqa: E402
from domain.drift.model import DriftScanInput, DriftScanResult, DriftScope  # noqa: E402
from domain.settings import Settings  # noqa: E402
from integrations.sealing import ensure_key_file  # noqa: E402
from integrations.temporal.client import connect, ensure_search_attributes  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from tests.fakes.estate import EstateArgoCD, generate_estate  # noqa: E402
from workers.main import ACTIVITY_THREADS, build_worker  # noqa: E402
from workflows.search import DEV_SERVER_FLAGS  # noqa: E402

TOKEN = "bench-token"
# (resources, applications): 20 resources per Application, as in the 1,000 / 50 estate.
SIZES = ((100, 5), (1_000, 50), (5_000, 250))
REFERENCE = 1_000


@dataclass
class Row:
    resources: int
    apps: int
    drifted_apps: int
    seconds: list[float] = field(default_factory=list)  # start to result, per timed scan
    workflow_seconds: list[float] = field(default_factory=list)  # the scan's own duration_seconds
    fake_seconds: float = 0.0  # the fake Argo CD's time answering, per scan
    problems: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.resources / self.median if self.median else 0.0

    @property
    def per_resource(self) -> float:
        return self.median / self.resources if self.resources else 0.0


def check(result: DriftScanResult, row: Row) -> list[str]:
    """What does not match the estate in a scan's result."""
    problems = []
    if result.apps_scanned != row.apps:
        problems.append(f"{result.apps_scanned} applications scanned, expected {row.apps}")
    if result.resources_scanned != row.resources:
        problems.append(f"{result.resources_scanned} resources scanned, expected {row.resources}")
    if result.drifted_apps != row.drifted_apps:
        problems.append(f"{result.drifted_apps} drifted applications found, expected {row.drifted_apps}")
    problems.extend(f"scan error: {error}" for error in result.errors[:3])
    return problems


async def measure(
    base: Settings, resources: int, apps: int, *, drifted: float, repeats: int, warmup: int, run: str
) -> Row:
    """Scan one generated estate `warmup + repeats` times with a worker of its own."""
    estate = generate_estate(apps, resources, drifted=round(resources * drifted), seed=resources)
    row = Row(resources=resources, apps=apps, drifted_apps=len(estate.drifted_apps))
    with EstateArgoCD(estate, token=TOKEN) as argocd, ThreadPoolExecutor(ACTIVITY_THREADS) as executor:
        settings = base.model_copy(update={"argocd_url": argocd.url, "argocd_token": TOKEN})
        client = await connect(settings)
        worker = build_worker(client, settings, executor)
        async with worker:
            for attempt in range(warmup + repeats):
                busy = argocd.busy_seconds
                started = time.perf_counter()
                result = await client.execute_workflow(
                    "DriftScanWorkflow",
                    DriftScanInput(scope=DriftScope(), remediate=False),
                    id=f"bench-drift-{run}-{resources}-{attempt}",
                    task_queue=settings.task_queue,
                    result_type=DriftScanResult,
                )
                elapsed = time.perf_counter() - started
                row.problems.extend(check(result, row))
                if attempt >= warmup:
                    row.seconds.append(elapsed)
                    row.workflow_seconds.append(result.duration_seconds)
                    row.fake_seconds += (argocd.busy_seconds - busy) / repeats
    return row


def report(rows: list[Row]) -> None:
    reference = next((r for r in rows if r.resources == REFERENCE), rows[0])
    print(
        f"{'resources':>9} {'apps':>5} {'drifted':>7} {'scan s':>8} {'workflow s':>10} "
        f"{'resources/s':>11} {'fake s':>7} {'per-resource vs ' + format(reference.resources, ','):>22}"
    )
    for row in rows:
        ratio = row.per_resource / reference.per_resource if reference.per_resource else 0.0
        print(
            f"{row.resources:>9,} {row.apps:>5} {row.drifted_apps:>7} {row.median:>8.2f} "
            f"{statistics.median(row.workflow_seconds):>10.2f} {row.rate:>11.0f} {row.fake_seconds:>7.2f} "
            f"{ratio:>22.2f}"
        )
    if len(rows) >= 3:
        # Least squares t = fixed + per_resource * n: linear growth is a good fit (R² near 1) with
        # a small fixed cost (the workflow's own steps), which alone lifts the smallest size's ratio.
        xs, ys = [float(r.resources) for r in rows], [r.median for r in rows]
        slope, intercept = statistics.linear_regression(xs, ys)
        mean = statistics.fmean(ys)
        residual = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
        total = sum((y - mean) ** 2 for y in ys)
        r2 = 1 - residual / total if total else 1.0
        print(
            f"linear fit: scan s = {intercept:.3f} + {slope * 1000:.3f} ms × resources  (R² {r2:.4f}); "
            f"marginal rate {1 / slope if slope > 0 else 0:.0f} resources/s"
        )


async def bench(
    sizes: Sequence[tuple[int, int]],
    *,
    repeats: int,
    warmup: int,
    drifted: float,
    page_size: int,
    temporal_address: str,
) -> list[Row]:
    run = uuid.uuid4().hex[:6]
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="medic-bench-drift-")))
        if not temporal_address:
            server = stack.enter_context(DevServer(port=free_port(), ui_port=None))
            temporal_address = server.address
        drift_config = ""
        if page_size:
            drift_config = str(home / "drift.yaml")
            Path(drift_config).write_text(f"page_size: {page_size}\n")
        settings = Settings(
            home=str(home),
            temporal_address=temporal_address,
            task_queue=f"bench-drift-{run}",
            database_url=f"sqlite:///{home / 'medic.db'}",
            snapshot_keys=ensure_key_file(home / "snapshot.key"),
            # The scan reads Argo CD only; nothing listens here.
            kube_api_url=f"http://127.0.0.1:{free_port()}",
            worker_metrics_address="",
            drift_config=drift_config,
        )
        upgrade(settings.resolved_database_url)
        client = await connect(settings)
        await ensure_search_attributes(client, settings.temporal_namespace, DEV_SERVER_FLAGS)
        print(
            f"embedded stack: Temporal {temporal_address}, SQLite, fake Argo CD; "
            f"{warmup} warm-up + {repeats} timed scans per size, median reported"
        )
        rows = []
        for resources, apps in sizes:
            rows.append(
                await measure(
                    settings, resources, apps, drifted=drifted, repeats=repeats, warmup=warmup, run=run
                )
            )
        return rows


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=int, help="one estate of this many resources (with --apps)")
    parser.add_argument("--apps", type=int, help="over this many Applications (default: resources / 20)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed scans per size (the median is reported)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed scans per size first")
    parser.add_argument(
        "--drifted", type=float, default=0.01, help="fraction of the resources changed live (default 0.01)"
    )
    parser.add_argument(
        "--page-size", type=int, default=0, help="Applications per scan activity (default: the worker's)"
    )
    parser.add_argument(
        "--temporal", default="", help="a running Temporal server's host:port (default: start a dev server)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or not 0 <= args.drifted <= 1:
        parser.error("--repeats must be at least 1, --warmup at least 0, --drifted within 0..1")
    if args.resources is not None:
        sizes: Sequence[tuple[int, int]] = [(args.resources, args.apps or max(1, args.resources // 20))]
    elif args.apps is not None:
        parser.error("--apps goes with --resources")
    else:
        sizes = SIZES
    rows = asyncio.run(
        bench(
            sizes,
            repeats=args.repeats,
            warmup=args.warmup,
            drifted=args.drifted,
            page_size=args.page_size,
            temporal_address=args.temporal,
        )
    )
    report(rows)
    problems = [f"{row.resources} resources: {p}" for row in rows for p in dict.fromkeys(row.problems)]
    if problems:
        print("\nscans that did not match the estate:", *problems, sep="\n  ", file=sys.stderr)
    return rows


if __name__ == "__main__":
    sys.exit(1 if any(row.problems for row in main()) else 0)
