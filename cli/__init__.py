"""The `medic` command and the processes it runs.

rego-cpp is loaded first, before anything loads the C++ runtime (protobuf, which temporalio
imports): loaded later, its allocator leaks what the runtime allocates for it, about 100 KB per
policy decision. policies/load_order.py says why.
"""

import regopy  # noqa: F401  (first: see above)
