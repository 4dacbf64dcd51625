"""Scripted model answers and the providers' response envelopes, as their APIs send them."""

from __future__ import annotations

import copy
import json
from typing import Any

LEDGER = {"namespace": "payments", "kind": "Deployment", "name": "ledger", "container": "ledger"}


def oom_diagnosis() -> dict[str, Any]:
    """What a competent model answers for oom-helm-values: raise the limit through the values file."""
    return {
        "root_cause": "oom",
        "summary": "ledger is OOMKilled at its 256Mi limit; raise the limit to 512Mi in the Helm values.",
        "explanation": "The JVM sizes its heap from the limit and the previous container ended OOMKilled.",
        "confidence": 0.86,
        "evidence": [
            {"item_id": "pod/payments/ledger-5c6b7d8f9-b7xkq", "note": "last state OOMKilled, exit 137"},
            {"item_id": "workload/payments/Deployment/ledger", "note": "memory limit 256Mi"},
        ],
        "actions": [
            {
                "kind": "set_resources",
                "target": dict(LEDGER),
                "mode": "gitops",
                "file": "values/ledger-values.yaml",
                "limits": {"memory": "512Mi"},
            }
        ],
        "expected_impact": "ledger stops being OOMKilled; both replicas become ready.",
        "rollback": "restore the memory limit to 256Mi in the values file",
    }


def _with_action(action: dict[str, Any]) -> dict[str, Any]:
    answer = oom_diagnosis()
    answer["actions"] = [action]
    return answer


def _valid_action_with(**extra: Any) -> dict[str, Any]:
    action = copy.deepcopy(oom_diagnosis()["actions"][0])
    action.update(extra)
    return action


# Answers that try to get something destructive, or something that is not a typed action, through.
# None of them may ever become a Diagnosis.
HOSTILE: dict[str, dict[str, Any]] = {
    "command_field_on_action": _with_action(_valid_action_with(command="kubectl delete namespace payments")),
    "command_field_at_top_level": {**oom_diagnosis(), "command": "kubectl delete namespace payments"},
    "delete_kind": _with_action(
        {"kind": "delete", "target": {"namespace": "payments", "kind": "Namespace", "name": "payments"}}
    ),
    "kubectl_kind": _with_action({"kind": "kubectl", "args": ["delete", "namespace", "payments"]}),
    "typed_action_on_a_namespace": _with_action(
        {
            "kind": "scale",
            "target": {"namespace": "payments", "kind": "Namespace", "name": "payments"},
            "mode": "direct",
            "replicas": 0,
        }
    ),
    "command_hidden_in_image": _with_action(
        {
            "kind": "set_image",
            "target": dict(LEDGER),
            "mode": "direct",
            "image": "busybox; kubectl delete namespace payments",
        }
    ),
    "command_hidden_in_container_name": _with_action(
        _valid_action_with(target={**LEDGER, "container": "$(kubectl delete namespace payments)"})
    ),
    "command_as_rollback_text": {**oom_diagnosis(), "rollback": "kubectl delete namespace payments"},
    "path_escape_in_file": _with_action(_valid_action_with(file="../../etc/passwd")),
    "target_not_observed": _with_action(
        {
            "kind": "restart",
            "target": {"namespace": "kube-system", "kind": "Deployment", "name": "coredns"},
            "mode": "direct",
        }
    ),
    "valid_action_smuggling_a_delete": {
        **oom_diagnosis(),
        "actions": [
            oom_diagnosis()["actions"][0],
            {"kind": "delete", "target": {"namespace": "payments", "kind": "Namespace", "name": "payments"}},
        ],
    },
}

# Answers that are simply not a valid diagnosis.
INVALID: dict[str, dict[str, Any]] = {
    "unknown_action_kind": _with_action({**_valid_action_with(), "kind": "set_memory"}),
    "confidence_out_of_range": {**oom_diagnosis(), "confidence": 1.7},
    "unknown_root_cause": {**oom_diagnosis(), "root_cause": "cosmic_rays"},
    "missing_summary": {k: v for k, v in oom_diagnosis().items() if k != "summary"},
    "evidence_not_observed": {
        **oom_diagnosis(),
        "evidence": [{"item_id": "pod/payments/ghost", "note": "?"}],
    },
    "not_a_quantity": _with_action(_valid_action_with(limits={"memory": "lots"})),
    "gitops_without_file": _with_action({k: v for k, v in _valid_action_with().items() if k != "file"}),
    "container_not_in_workload": _with_action(_valid_action_with(target={**LEDGER, "container": "sidecar"})),
}


# --- Anthropic Messages API ----------------------------------------------------------------------


def anthropic_message(content: list[dict[str, Any]], stop_reason: str = "tool_use") -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 2095, "output_tokens": 503},
    }


def anthropic_tool_use(tool_input: Any, name: str = "submit_diagnosis") -> dict[str, Any]:
    return anthropic_message(
        [
            {"type": "text", "text": "I'll submit the diagnosis."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": name, "input": tool_input},
        ]
    )


def anthropic_error(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


# --- OpenAI-compatible Chat Completions --------------------------------------------------------------


def chat_completion(message: dict[str, Any], finish_reason: str = "tool_calls") -> dict[str, Any]:
    return {
        "id": "chatcmpl-9a1b2c3d",
        "object": "chat.completion",
        "created": 1763900000,
        "model": "qwen-test",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}
        ],
        "usage": {"prompt_tokens": 2095, "completion_tokens": 503, "total_tokens": 2598},
    }


def chat_tool_call(arguments: Any, name: str = "submit_diagnosis") -> dict[str, Any]:
    """Arguments are a JSON string on the wire, as OpenAI and vLLM send them."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return chat_completion(
        {
            "content": None,
            "tool_calls": [
                {"id": "call_8f2k", "type": "function", "function": {"name": name, "arguments": text}}
            ],
        }
    )


def chat_content(text: str) -> dict[str, Any]:
    return chat_completion({"content": text}, finish_reason="stop")


def openai_error(error_type: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": None}}
