"""OpenCost's `/metrics` served on loopback, in the Prometheus text format a real OpenCost writes.

The exposition carries what an OpenCost pod publishes about prices, labelled as OpenCost labels
them: per node `node_cpu_hourly_cost`, `node_ram_hourly_cost`, `node_gpu_hourly_cost`,
`node_total_hourly_cost` and `kubecost_node_is_spot` (`instance`, `node`, `instance_type`,
`region`, `provider_id`, `arch`); per persistent volume `pv_hourly_cost` (`volumename`,
`persistentvolume`, `provider_id`); and, as a real one does, per-container allocations the
prices are not read from. It is written by prometheus_client's own exposition code, so the format
is the one Prometheus scrapes. Any other path is Go's plain-text 404.

For tests: `nodes` and `volumes` set the prices; `omit` leaves metrics out of the exposition;
`fail_next(status, times)` answers the next requests with an error; `delay` holds every answer
back (a timeout for a client with a shorter one); `requests` records every path asked for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from sandbox.loopback import BackgroundHTTPServer

_NODE_LABELS = ("instance", "node", "instance_type", "region", "provider_id", "arch")


@dataclass(frozen=True)
class Node:
    name: str
    instance_type: str
    cpu_hourly: float  # per vCPU
    ram_hourly: float  # per GiB
    cpus: int = 4
    ram_gib: int = 16
    spot: bool = False


@dataclass(frozen=True)
class Volume:
    name: str
    hourly: float  # per GiB


# A cluster of mixed node types: three instance types and a spot node, priced per vCPU and GiB.
MIXED_NODES = (
    Node("gke-shop-default-1", "e2-standard-4", 0.021811, 0.002923),
    Node("gke-shop-default-2", "e2-standard-4", 0.021811, 0.002923),
    Node("gke-shop-highmem-1", "n2-highmem-8", 0.031611, 0.004237, cpus=8, ram_gib=64),
    Node("gke-shop-compute-1", "c2-standard-16", 0.03398, 0.00455, cpus=16, ram_gib=64),
    Node("gke-shop-spot-1", "e2-standard-4", 0.006543, 0.000877, spot=True),
)
VOLUMES = (
    Volume("pvc-3f1c9a42-orders-db-0", 0.10 / 730),
    Volume("pvc-7d20e1b8-orders-db-1", 0.10 / 730),
    Volume("pvc-a91f03cc-uploads", 0.17 / 730),
)


class SandboxOpenCost(BackgroundHTTPServer):
    thread_name = "sandbox-opencost"

    def __init__(
        self,
        nodes: tuple[Node, ...] = MIXED_NODES,
        volumes: tuple[Volume, ...] = VOLUMES,
        *,
        omit: tuple[str, ...] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.nodes = nodes
        self.volumes = volumes
        self.omit = set(omit)
        self.delay = 0.0
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._faults: list[int] = []

    def fail_next(self, status: int = 503, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([status] * times)

    def _take_fault(self) -> int | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def exposition(self) -> bytes:
        """What `/metrics` answers now."""
        registry = CollectorRegistry(auto_describe=True)

        def gauge(name: str, help_text: str, labels: tuple[str, ...]) -> Gauge | None:
            if name in self.omit:
                return None
            return Gauge(name, help_text, labels, registry=registry)

        cpu = gauge(
            "node_cpu_hourly_cost", "node_cpu_hourly_cost hourly cost for each cpu on this node", _NODE_LABELS
        )
        ram = gauge(
            "node_ram_hourly_cost",
            "node_ram_hourly_cost hourly cost for each gb of ram on this node",
            _NODE_LABELS,
        )
        gpu = gauge(
            "node_gpu_hourly_cost", "node_gpu_hourly_cost hourly cost for each gpu on this node", _NODE_LABELS
        )
        total = gauge(
            "node_total_hourly_cost", "node_total_hourly_cost Total node cost per hour", _NODE_LABELS
        )
        spot = gauge(
            "kubecost_node_is_spot",
            "kubecost_node_is_spot Cloud provider info about node preemptibility",
            _NODE_LABELS,
        )
        pv = gauge(
            "pv_hourly_cost",
            "pv_hourly_cost Cost per GB per hour on a persistent disk",
            ("volumename", "persistentvolume", "provider_id"),
        )
        allocation = gauge(
            "container_cpu_allocation",
            "container_cpu_allocation Percent of a single CPU used in a minute",
            ("container", "instance", "namespace", "node", "pod"),
        )
        for node in self.nodes:
            labels: dict[str, Any] = {
                "instance": node.name,
                "node": node.name,
                "instance_type": node.instance_type,
                "region": "us-central1",
                "provider_id": f"gce://shop-prod/us-central1-a/{node.name}",
                "arch": "amd64",
            }
            if cpu:
                cpu.labels(**labels).set(node.cpu_hourly)
            if ram:
                ram.labels(**labels).set(node.ram_hourly)
            if gpu:
                gpu.labels(**labels).set(0)
            if total:
                total.labels(**labels).set(node.cpus * node.cpu_hourly + node.ram_gib * node.ram_hourly)
            if spot:
                spot.labels(**labels).set(1 if node.spot else 0)
            if allocation:
                allocation.labels("checkout", node.name, "shop", node.name, f"checkout-{node.name[-1]}").set(
                    0.25
                )
        for volume in self.volumes:
            if pv:
                pv.labels(volume.name, volume.name, f"projects/shop-prod/disks/{volume.name}").set(
                    volume.hourly
                )
        return generate_latest(registry)

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "opencost-sandbox/1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
                path = self.path.partition("?")[0]
                with outer._lock:
                    outer.requests.append(path)
                if outer.delay > 0:
                    outer._stopping.wait(outer.delay)
                fault = outer._take_fault()
                if fault is not None:
                    self._send(fault, "text/plain; charset=utf-8", b"injected fault\n")
                elif path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, outer.exposition())
                else:
                    self._send(404, "text/plain; charset=utf-8", b"404 page not found\n")

        return Handler
