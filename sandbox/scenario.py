"""Incident scenarios (`../shared/scenarios/*.yaml`) as typed, frozen objects.

The file format is described in the scenarios folder's README. Loading checks the shape only; what a
scenario means is up to its users (the sandbox cluster, the analysis evaluation).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.base import Frozen
from domain.kube.quantity import QuantityError, parse_quantity

_REPO = Path(__file__).resolve().parents[1]


def shared_dir(env: Mapping[str, str] | None = None) -> Path:
    """The shared folder beside the repository, or `MEDIC_SHARED_DIR` when that is set."""
    env = os.environ if env is None else env
    override = env.get("MEDIC_SHARED_DIR")
    return Path(override).resolve() if override else (_REPO.parent / "shared").resolve()


SHARED_SCENARIOS: Path = shared_dir() / "scenarios"

_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

ArgoVersion = Literal["2", "3"]
TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"


def annotation_tracked(cluster: list[Any], applications: list[Any]) -> list[Any]:
    """The cluster's objects as Argo CD 3.x (annotation tracking) leaves them: each object an
    Application's status.resources list gets `argocd.argoproj.io/tracking-id`
    (`<app>:<group>/<kind>:<namespace>/<name>`, `<app>` prefixed `<app namespace>_` outside
    `argocd`) unless it has one, and loses the instance label naming that Application (the label
    Argo CD 2.x tracked by; the pod template's labels are left alone)."""
    objects = [dict(obj) if isinstance(obj, dict) else obj for obj in cluster]
    for app in applications:
        if not isinstance(app, dict):
            continue
        meta = app.get("metadata") or {}
        name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "argocd")
        app_id = name if namespace == "argocd" else f"{namespace}_{name}"
        for resource in (app.get("status") or {}).get("resources") or []:
            for index, obj in enumerate(objects):
                if not isinstance(obj, dict):
                    continue
                obj_meta = obj.get("metadata") or {}
                api_version = str(obj.get("apiVersion") or "")
                group = api_version.split("/", 1)[0] if "/" in api_version else ""
                if (group, obj.get("kind"), obj_meta.get("namespace") or "", obj_meta.get("name")) != (
                    resource.get("group") or "",
                    resource.get("kind"),
                    resource.get("namespace") or "",
                    resource.get("name"),
                ):
                    continue
                annotations = dict(obj_meta.get("annotations") or {})
                annotations.setdefault(
                    TRACKING_ANNOTATION,
                    f"{app_id}:{group}/{obj['kind']}:{obj_meta.get('namespace') or ''}/{obj_meta['name']}",
                )
                labels = dict(obj_meta.get("labels") or {})
                if labels.get(INSTANCE_LABEL) == name:
                    del labels[INSTANCE_LABEL]
                new_meta = {**obj_meta, "annotations": annotations}
                if labels:
                    new_meta["labels"] = labels
                else:
                    new_meta.pop("labels", None)
                objects[index] = {**obj, "metadata": new_meta}
    return objects


class ScenarioError(ValueError):
    """A scenario file that cannot be used; names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class HealCondition(Frozen):
    """One condition of `heals_when`: a field of a workload (or of one of its containers).

    `field` is a dotted path, resolved against the named container of the pod template when
    `container` is set (`image`, `resources.limits.memory`), else against the workload's spec
    (`replicas`). `at_least` compares Kubernetes quantities; `equals` compares values exactly.
    """

    model_config = ConfigDict(extra="forbid")

    kind: str = "Deployment"
    namespace: str
    name: str
    container: str | None = None
    field: str
    at_least: str | int | float | None = None
    equals: Any = None

    @model_validator(mode="after")
    def _one_comparison(self) -> HealCondition:
        if (self.at_least is None) == (self.equals is None):
            raise ValueError("a heals_when condition needs exactly one of at_least / equals")
        if self.at_least is not None:
            try:
                parse_quantity(self.at_least)
            except QuantityError as exc:
                raise ValueError(f"at_least: {exc}") from exc
        return self

    def applies_to(self, kind: str, namespace: str, name: str) -> bool:
        return (self.kind, self.namespace, self.name) == (kind, namespace, name)

    def holds(self, workload: dict[str, Any]) -> bool:
        """Whether the workload object (as the API returns it) satisfies this condition."""
        spec = workload.get("spec") or {}
        base: Any = spec
        if self.container is not None:
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            base = next((c for c in containers if c.get("name") == self.container), None)
            if base is None:
                return False
        value: Any = base
        for part in self.field.split("."):
            if not isinstance(value, dict) or part not in value:
                return False
            value = value[part]
        if value is None:
            return False
        if self.equals is not None:
            return str(value) == str(self.equals)
        assert self.at_least is not None  # the validator guarantees one comparison
        try:
            return parse_quantity(value) >= parse_quantity(self.at_least)
        except QuantityError:
            return False


class SignalValues(Frozen):
    """A workload's deploy-watch signals as the sandbox Prometheus serves them (None or left out:
    no series). Counted signals (restarts, oom_kills) are counts over the queried window."""

    model_config = ConfigDict(extra="forbid")

    request_rate: float | None = None
    error_ratio: float | None = None
    p99_ms: float | None = None
    restarts: float | None = None
    ready_ratio: float | None = None
    oom_kills: float | None = None


class DeploySignals(Frozen):
    """A workload's signals before and after its last sync; `noisy` adds a deterministic ±20%
    jitter to the request rate, error ratio and p99 samples."""

    model_config = ConfigDict(extra="forbid")

    before: SignalValues = Field(default_factory=SignalValues)
    after: SignalValues = Field(default_factory=SignalValues)
    noisy: bool = False


class Scenario(Frozen):
    model_config = ConfigDict(extra="forbid")

    name: str
    summary: str = ""
    alert: dict[str, Any]
    cluster: list[dict[str, Any]] = Field(default_factory=list)
    logs: dict[str, str] = Field(default_factory=dict)
    previous_logs: dict[str, str] = Field(default_factory=dict)
    argocd: list[dict[str, Any]] = Field(default_factory=list)
    gitops: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, list[list[Any]]] = Field(default_factory=dict)
    # "<namespace>/<name>" of a workload -> its signals around its last sync (sandbox Prometheus)
    deploy_signals: dict[str, DeploySignals] = Field(default_factory=dict)
    expect: dict[str, Any] = Field(default_factory=dict)
    heals_when: list[HealCondition] = Field(default_factory=list)
    # Which Argo CD the sandbox plays: "2" (2.x, as the scenario is written: its objects keep the
    # tracking they carry, status.resources carry each resource's health) or "3" (3.x: every object
    # an Application lists carries the tracking-id annotation and not the instance label naming
    # that Application, and per-resource health is served by the resource tree only).
    argocd_version: ArgoVersion = "2"

    @model_validator(mode="before")
    @classmethod
    def _tracked_as_its_version(cls, data: Any) -> Any:
        if isinstance(data, dict) and "argocd_version" in data:
            data = {**data, "argocd_version": str(data["argocd_version"])}
            if data["argocd_version"] == "3":
                data["cluster"] = annotation_tracked(data.get("cluster") or [], data.get("argocd") or [])
        return data

    @field_validator("name")
    @classmethod
    def _kebab(cls, value: str) -> str:
        if not _KEBAB.match(value):
            raise ValueError(f"name must be kebab-case, got {value!r}")
        return value

    @field_validator("cluster")
    @classmethod
    def _objects(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, obj in enumerate(value):
            metadata = obj.get("metadata")
            if not obj.get("apiVersion") or not obj.get("kind"):
                raise ValueError(f"cluster[{index}] needs apiVersion and kind")
            if not isinstance(metadata, dict) or not metadata.get("name"):
                raise ValueError(f"cluster[{index}] ({obj.get('kind')}) needs metadata.name")
        return value

    @field_validator("logs", "previous_logs")
    @classmethod
    def _log_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if len(key.split("/")) != 3:
                raise ValueError(f"log key {key!r} is not namespace/pod/container")
        return value

    @field_validator("deploy_signals")
    @classmethod
    def _workload_keys(cls, value: dict[str, DeploySignals]) -> dict[str, DeploySignals]:
        for key in value:
            if len(key.split("/")) != 2 or not all(key.split("/")):
                raise ValueError(f"deploy_signals key {key!r} is not namespace/name")
        return value

    def heal_conditions(self, kind: str, namespace: str, name: str) -> list[HealCondition]:
        return [c for c in self.heals_when if c.applies_to(kind, namespace, name)]


def with_argocd_version(scenario: Scenario, version: ArgoVersion) -> Scenario:
    """The scenario as the sandbox plays it with Argo CD `version` (see `Scenario.argocd_version`)."""
    return Scenario.model_validate({**scenario.model_dump(), "argocd_version": version})


def load_scenario(path: str | Path) -> Scenario:
    """Read and check one scenario file; any problem is a `ScenarioError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(path, f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(path, "a scenario is one YAML mapping")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ScenarioError(path, problems) from exc


def scenario_path(name: str, directory: Path | None = None) -> Path:
    """The file of a scenario by name (`oom-helm-values`) in the shared folder."""
    return (directory or SHARED_SCENARIOS) / f"{name}.yaml"


def load_named(name: str, directory: Path | None = None) -> Scenario:
    return load_scenario(scenario_path(name, directory))
