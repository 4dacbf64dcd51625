"""The model SDKs are loaded only when an analyzer that uses them is built or named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import sys
import workers.main
import integrations.llm
loaded = sorted(m for m in ("anthropic", "openai") if m in sys.modules)
print("before", ",".join(loaded))
from integrations.llm import AnthropicAnalyzer, make_analyzer
assert AnthropicAnalyzer.__name__ == "AnthropicAnalyzer"
print("after", "anthropic" in sys.modules)
try:
    integrations.llm.NoSuchName
except AttributeError as err:
    print("missing", err)
"""


def test_the_worker_imports_no_model_sdk_until_an_analyzer_is_named() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "before ", result.stdout
    assert lines[1] == "after True"
    assert lines[2] == "missing module 'integrations.llm' has no attribute 'NoSuchName'"
