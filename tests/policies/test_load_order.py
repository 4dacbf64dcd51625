"""rego-cpp loaded before the C++ runtime: policy decisions keep no memory, and a process that got
the order wrong says so (policies/load_order.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from policies.load_order import RUNTIME, rego_loaded_late

REPO = Path(__file__).resolve().parents[2]

# Decides DECISIONS times and prints the C library's bytes in use per decision (glibc's
# mallinfo2: what tracemalloc cannot see), after the process's imports ran in the order given.
DECIDE = """
import ctypes, gc, logging
logging.basicConfig(format="%(levelname)s %(name)s %(message)s")
{imports}
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
from policies import evaluate
from tests.policies.test_policy import raw_action
plan = {{"actions": [raw_action()]}}
evaluate(plan)
gc.collect()
before = libc.mallinfo2().uordblks
for _ in range({decisions}):
    evaluate(plan)
gc.collect()
print((libc.mallinfo2().uordblks - before) / {decisions})
"""
DECISIONS = 200


def decide(imports: str) -> tuple[float, str]:
    """Bytes kept per decision and what the process logged, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", DECIDE.format(imports=imports, decisions=DECISIONS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(done.stdout.strip()), done.stderr


def test_a_process_started_through_the_cli_keeps_nothing_per_decision() -> None:
    # The worker's own order: the cli package first, then the SDK (which loads protobuf's C++).
    kept, logged = decide("import cli\nimport temporalio.worker")
    assert kept < 1024, f"{kept:.0f} bytes per decision stayed allocated"
    assert "rego-cpp was loaded after" not in logged


def test_a_process_that_loaded_the_runtime_first_says_so_in_one_line() -> None:
    _, logged = decide("import temporalio.worker")
    warnings = [line for line in logged.splitlines() if "rego-cpp was loaded after libstdc++" in line]
    assert len(warnings) == 1, logged
    assert warnings[0].startswith("WARNING medic.policies ")
    assert "policies/load_order.py" in warnings[0]


def test_loaded_late_only_when_the_runtime_is_mapped_and_regopy_not_imported(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text(f"7f00-7f01 r-xp 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/{RUNTIME}.so.6.0.30\n")
    assert rego_loaded_late(maps, modules={})
    assert not rego_loaded_late(maps, modules={"regopy": object()})
    maps.write_text("7f00-7f01 r-xp 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/libc.so.6\n")
    assert not rego_loaded_late(maps, modules={})
    assert not rego_loaded_late(tmp_path / "no-proc", modules={})
