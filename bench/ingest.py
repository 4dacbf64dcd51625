"""Webhook ingestion throughput on the embedded stack, against starting workflows directly.

    .venv/bin/python bench/ingest.py [--alerts 500] [--concurrency 20]

Starts a Temporal dev server (in memory) and `medic gateway` as its own process on loopback,
then posts N Alertmanager notifications, each its own alert group, C at a time, and measures
alerts/s and per-request latency. It then signal-with-starts the same number of workflows
straight through the Temporal client at the same concurrency. The ratio of the two throughputs
is the gateway's cost. No worker runs: this measures ingestion, not remediation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cli.devserver import DevServer, free_port, port_open  # noqa: E402
from domain.incident.alerts import AlertGroup  # noqa: E402
from domain.settings import Settings  # noqa: E402
from gateway.ingest import deliver  # noqa: E402
from integrations.temporal.client import connect  # noqa: E402

TOKEN = "bench-token"
FIXTURE = REPO.parent / "shared" / "fixtures" / "alertmanager" / "oomkilled-firing.json"
FALLBACK = REPO / "sandbox" / "scenarios" / "demo-oom.yaml"


def base_payload() -> dict[str, Any]:
    if FIXTURE.exists():
        return dict(json.loads(FIXTURE.read_text()))
    import yaml

    return dict(yaml.safe_load(FALLBACK.read_text())["alert"])


def payloads(count: int, run: str) -> list[dict[str, Any]]:
    base = base_payload()
    return [dict(base, groupKey=f"{base['groupKey']}:bench-{run}-{i}") for i in range(count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def bounded(concurrency: int, jobs: list[Any]) -> tuple[float, list[float]]:
    semaphore = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(job: Any) -> None:
        async with semaphore:
            started = time.perf_counter()
            await job()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(j) for j in jobs))
    return time.perf_counter() - started, latencies


def report(name: str, count: int, elapsed: float, latencies: list[float]) -> float:
    rate = count / elapsed
    print(
        f"{name:<28} {count:>6} alerts in {elapsed:6.2f} s  {rate:8.1f} alerts/s  "
        f"p50 {percentile(latencies, 0.50) * 1000:7.1f} ms  p99 {percentile(latencies, 0.99) * 1000:7.1f} ms"
    )
    return rate


async def bench(alerts: int, concurrency: int) -> None:
    run = uuid.uuid4().hex[:6]
    settings = Settings(webhook_token=TOKEN, task_queue=f"bench-{run}")
    with DevServer(port=free_port(), ui_port=None) as server:
        settings = settings.model_copy(update={"temporal_address": server.address})
        gateway_port = free_port()
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": server.address,
            "MEDIC_WEBHOOK_TOKEN": TOKEN,
            "MEDIC_TASK_QUEUE": settings.task_queue,
        }
        gateway = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "gateway.server:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(gateway_port),
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=REPO,
        )
        try:
            deadline = time.monotonic() + 30
            while not port_open("127.0.0.1", gateway_port):
                if time.monotonic() > deadline or gateway.poll() is not None:
                    raise SystemExit("the gateway did not start")
                time.sleep(0.1)
            url = f"http://127.0.0.1:{gateway_port}/alerts/alertmanager"
            headers = {"Authorization": f"Bearer {TOKEN}"}
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            async with httpx.AsyncClient(limits=limits, timeout=30) as http:
                # Warm-up: the gateway's first request connects it to Temporal.
                warm = payloads(1, f"{run}-warm")[0]
                (await http.post(url, json=warm, headers=headers)).raise_for_status()

                def post(body: dict[str, Any]) -> Any:
                    async def call() -> None:
                        response = await http.post(url, json=body, headers=headers)
                        if response.status_code != 202:
                            raise RuntimeError(f"{response.status_code}: {response.text}")

                    return call

                elapsed, latencies = await bounded(
                    concurrency, [post(b) for b in payloads(alerts, f"{run}-gw")]
                )
            print(
                f"embedded stack: Temporal dev server {server.address}, gateway on :{gateway_port}, "
                f"{alerts} alert groups, concurrency {concurrency}"
            )
            webhook_rate = report("webhook → gateway → Temporal", alerts, elapsed, latencies)

            client = await connect(settings)

            def start(body: dict[str, Any]) -> Any:
                group = AlertGroup.model_validate(body)

                async def call() -> None:
                    # The gateway's own delivery (signal-with-start), without HTTP in front of it.
                    await deliver(client, settings, group)

                return call

            elapsed, latencies = await bounded(
                concurrency, [start(b) for b in payloads(alerts, f"{run}-direct")]
            )
            direct_rate = report("Temporal client directly", alerts, elapsed, latencies)
            print(f"ratio webhook/direct: {webhook_rate / direct_rate:.2f}")
        finally:
            gateway.terminate()
            gateway.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(bench(args.alerts, args.concurrency))


if __name__ == "__main__":
    main()
