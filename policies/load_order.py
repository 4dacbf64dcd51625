"""rego-cpp must be loaded before anything else loads the C++ runtime, or every decision leaks.

regopy's library (`librego_shared.so`) brings its own allocator, snmalloc, and exports its own
`operator new` and `operator delete`. When the library is the first in the process to load
`libstdc++`, the runtime binds to that allocator as well and every allocation and release of
rego-cpp's objects meet the same allocator. When something else loaded `libstdc++` first —
protobuf's upb extension does, and `temporalio` imports it; so does `frozenlist` — the runtime is
already bound to the C library's `malloc`: strings it grows inside `libstdc++` are released by
snmalloc, which does not own them and keeps them. Measured with regopy 1.5.2: about 113 KB of
memory that never comes back per policy decision — two decisions per incident, so 226 MB for a
thousand incidents on a worker. Nothing in Python sees it (tracemalloc counts none of it); the C
library's `mallinfo2` does.

So every medic process loads rego-cpp first: the `cli` package (every entry point: `medic worker`,
`medic gateway`, `medic dev`, `python -m cli`) imports regopy before anything else, and so do the
tests. `rego_loaded_late` tells, when `policies` is imported, whether the process got it wrong,
and `policies` says so in one warning instead of leaking quietly.
"""

from __future__ import annotations

import sys
from pathlib import Path

MAPS = Path("/proc/self/maps")
RUNTIME = "libstdc++"


def rego_loaded_late(maps: Path = MAPS, modules: dict[str, object] | None = None) -> bool:
    """Whether rego-cpp is about to be loaded into a process that has loaded `libstdc++` already:
    regopy not imported yet and the runtime mapped. False where there is no /proc (not Linux:
    nothing to tell) and once regopy is imported (its own order was decided then)."""
    if "regopy" in (sys.modules if modules is None else modules):
        return False
    try:
        text = maps.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(RUNTIME in line for line in text.splitlines())


# Asked once, when `policies` imports this module, just before it imports regopy.
LOADED_LATE = rego_loaded_late()
