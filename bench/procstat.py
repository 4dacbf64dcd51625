"""A process's own resident memory and CPU time, for benchmarks that run medic's parts as processes.

psutil when it is installed, else Linux's /proc (`status` for VmRSS, `stat` for utime + stime).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # optional: not a dependency of medic
    import psutil
except ImportError:  # pragma: no cover - depends on the machine
    psutil = None


@dataclass(frozen=True)
class Sample:
    rss_bytes: int
    cpu_seconds: float  # user + system since the process started


class ProcessMeter:
    """Reads one process's RSS and CPU time; `sample()` raises ProcessLookupError once it is gone."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.source = "psutil" if psutil is not None else "/proc"
        self._process: Any = psutil.Process(pid) if psutil is not None else None
        self._ticks = os.sysconf("SC_CLK_TCK") if self._process is None else 0

    def sample(self) -> Sample:
        if self._process is not None:
            try:
                with self._process.oneshot():
                    times = self._process.cpu_times()
                    return Sample(self._process.memory_info().rss, times.user + times.system)
            except psutil.NoSuchProcess as err:
                raise ProcessLookupError(self.pid) from err
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except FileNotFoundError as err:
            raise ProcessLookupError(self.pid) from err
        rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        # Fields after the command name (which may hold spaces), counted from field 3 (state):
        # utime and stime are fields 14 and 15.
        fields = stat.rsplit(")", 1)[1].split()
        return Sample(rss_kb * 1024, (int(fields[11]) + int(fields[12])) / self._ticks)
