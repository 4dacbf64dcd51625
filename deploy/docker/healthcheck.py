"""The image's HEALTHCHECK: 0 when this container's medic process answers GET /healthz.

The one image runs the worker (health on MEDIC_WORKER_HEALTH_ADDRESS, 127.0.0.1:8081 unless set)
and the gateway (MEDIC_GATEWAY_PORT, 8000 unless set); whichever answers 200 is healthy. Standard
library only, so it costs nothing at start.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def _urls(env: dict[str, str]) -> list[str]:
    worker = env.get("MEDIC_WORKER_HEALTH_ADDRESS", "127.0.0.1:8081").strip()
    host, _, port = worker.rpartition(":")
    urls = []
    if worker:
        # A server bound to every interface answers on loopback.
        urls.append(f"http://{'127.0.0.1' if host in ('', '0.0.0.0', '[::]') else host}:{port}/healthz")
    urls.append(f"http://127.0.0.1:{env.get('MEDIC_GATEWAY_PORT', '8000')}/healthz")
    return urls


def main() -> int:
    failures = []
    for url in _urls(dict(os.environ)):
        try:
            with urllib.request.urlopen(url, timeout=4) as response:
                if response.status == 200:
                    return 0
                failures.append(f"{url}: HTTP {response.status}")
        except OSError as err:
            failures.append(f"{url}: {err}")
    print("unhealthy: " + "; ".join(failures), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
