"""docker-compose.yml is production-shaped: Temporal's schema from its admin tools, ports on
loopback only, every medic setting from .env, of which deploy/medic.env.example names each."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.settings_variables import settings_variables

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / "deploy" / "medic.env.example"
MEDIC_SERVICES = ("migrate", "worker", "gateway")
# Read at the process edge outside settings_from_mapping: the model clients and the log format.
EDGE_VARIABLES = (
    "MEDIC_LOG_FORMAT",
    "ANTHROPIC_API_KEY",
    "MEDIC_ANTHROPIC_MODEL",
    "ANTHROPIC_BASE_URL",
    "MEDIC_OPENAI_BASE_URL",
    "MEDIC_OPENAI_MODEL",
    "MEDIC_OPENAI_API_KEY",
    "MEDIC_LLM_TIMEOUT_SECONDS",
    "MEDIC_LLM_MAX_TOKENS",
)


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_every_published_port_is_bound_to_loopback() -> None:
    services = compose()["services"]
    published = [(name, port) for name, service in services.items() for port in service.get("ports", [])]
    assert published
    for name, port in published:
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)


def test_temporal_runs_the_server_image_on_a_schema_the_admin_tools_set_up() -> None:
    services = compose()["services"]
    assert not [s for s in services.values() if "auto-setup" in str(s.get("image", ""))]
    assert services["temporal"]["image"].startswith("temporalio/server:")
    schema = services["temporal-schema"]
    assert schema["image"].startswith("temporalio/admin-tools:")
    script = "\n".join(schema["command"])
    for step in ("create-database", "setup-schema", "update-schema"):
        assert f"{step}" in script
    assert "temporal_visibility" in script and "visibility/versioned" in script
    assert services["temporal"]["depends_on"]["temporal-schema"] == {
        "condition": "service_completed_successfully"
    }


def test_medic_services_take_their_settings_from_the_env_file_on_a_read_only_root() -> None:
    services = compose()["services"]
    for name in MEDIC_SERVICES:
        service = services[name]
        assert service["env_file"] == ".env", name
        assert service["read_only"] is True, name
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("worker", "gateway"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def example_names() -> set[str]:
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.M))


def test_the_env_example_names_every_variable_medic_reads() -> None:
    missing = sorted((set(settings_variables()) | set(EDGE_VARIABLES)) - example_names())
    assert not missing, f"deploy/medic.env.example lacks {missing}"


def test_the_env_example_holds_no_secret_value() -> None:
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match and re.search(r"TOKEN$|KEY$|KEYS$|SECRET$|PASSWORD$", match[1]):
            assert match[2] == "", line
