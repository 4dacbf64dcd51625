"""Reading a request's words as one typed change. Pure and deterministic: the same words always
give the same change or the same refusal.

Two forms are read:

- the structured form, a verb and its arguments:
  `set-image NS/NAME CONTAINER=IMAGE` (or `set-image NS/NAME IMAGE` for the only container),
  `scale NS/NAME N`, `set-resources NS/NAME [CONTAINER] memory=1Gi cpu=500m`,
  `rollback NS/NAME [REVISION]`, `restart NS/NAME`, `sync-app NAME`;
- free text in the common phrasings of those changes ("scale checkout in shop to 6 replicas for
  the sale", "give cart 1Gi of memory", "roll the ledger back to yesterday's version", "bump
  checkout to ghcr.io/acme/checkout:1.14.0"), by a small grammar of patterns.

`set-resources` and "give X 1Gi of memory": a bare `memory=` sets the memory limit (and the request
too where the current request is above it, at planning); a bare `cpu=` sets the CPU request (and
the limit too where the current limit is below it). `requests.memory=`, `limits.cpu=` and friends
set exactly that field. A rollback "to yesterday's version", "the previous version", "the last
good one" means the revision before the current one: medic does not guess a revision by its date.

Nothing is guessed: words that match no pattern, a value out of bounds, or text that is not a
request at all get an `IntentRefused` with one line saying why and what would be read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.intent.model import MAX_REQUEST_LENGTH, IntentChange, IntentTarget
from domain.kube.quantity import QuantityError, format_memory, parse_quantity

__all__ = [
    "EXAMPLES",
    "IntentBounds",
    "IntentOutOfBounds",
    "IntentRefused",
    "bounds_from_policy_data",
    "parse_intent",
    "request_problem",
    "within_bounds",
]

EXAMPLES = (
    "scale shop/checkout 6",
    "set-image shop/checkout checkout=ghcr.io/acme/checkout:1.14.0",
    "set-resources shop/cart memory=1Gi",
    "rollback payments/ledger",
    "restart payments/ledger",
    "sync-app shop",
)
_TRY = "try: " + "; ".join(f"'{e}'" for e in EXAMPLES[:4]) + ", or 'scale checkout in shop to 6 replicas'"


class IntentRefused(ValueError):
    """The words cannot be read as a change (or not as an allowed one). Its message is one line."""


class IntentUnreadable(IntentRefused):
    """The words match none of the forms medic reads."""


class IntentOutOfBounds(IntentRefused):
    """The words read as a change, but ask for a value beyond the bounds."""


@dataclass(frozen=True)
class IntentBounds:
    """What a request may ask for at most (and at least), before the policy weighs the plan.

    `max_replicas` and the floors come from the policy's data (`bounds`); the ceilings on memory
    and CPU are sanity bounds of their own: no container of a request gets a terabyte."""

    max_replicas: int = 50
    min_memory: Decimal = Decimal(16 * 2**20)
    min_cpu: Decimal = Decimal("0.01")
    max_memory: Decimal = Decimal(256 * 2**30)
    max_cpu: Decimal = Decimal(64)


def bounds_from_policy_data(data: dict[str, Any]) -> IntentBounds:
    """The bounds of a policy's data (`policies/data.json`: medic.config.bounds); the defaults
    where it says nothing."""
    default = IntentBounds()
    config = ((data.get("medic") or {}).get("config") or {}) if isinstance(data, dict) else {}
    bounds = config.get("bounds") or {}
    floors = bounds.get("min_resources") or {}
    try:
        return IntentBounds(
            max_replicas=int(bounds.get("max_replicas", default.max_replicas)),
            min_memory=Decimal(str(floors.get("memory", default.min_memory))),
            min_cpu=Decimal(str(floors.get("cpu", default.min_cpu))),
        )
    except (TypeError, ValueError, ArithmeticError):
        return default


# ---- the words themselves ------------------------------------------------------------------------


def request_problem(words: str) -> str | None:
    """Why `words` cannot be a request at all (empty, too long, control characters), or None."""
    if not words.strip():
        return "the request is empty; " + _TRY
    if len(words) > MAX_REQUEST_LENGTH:
        return f"the request is {len(words)} characters; at most {MAX_REQUEST_LENGTH} are read"
    if any(unicodedata.category(c) in ("Cc", "Cf") and c not in " " for c in words):
        return "the request contains control or formatting characters; send plain text on one line"
    return None


_NAME = r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?"
_NAME_RE = re.compile(rf"^{_NAME}$")
_MAX_NAME = 253
# `registry[:port]/path/name[:tag][@sha256:hex]`; lowercase repository, as registries require.
_IMAGE = (
    r"[a-z0-9][a-z0-9._-]*(?::[0-9]+)?(?:/[a-z0-9][a-z0-9._-]*)+"
    r"(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)
_IMAGE_RE = re.compile(rf"^{_IMAGE}$")
# A bare one-segment image (`nginx:1.27`) needs a tag or digest to be read as an image.
_SHORT_IMAGE = r"[a-z0-9][a-z0-9._-]*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[a-f0-9]{64})"
_SHORT_IMAGE_RE = re.compile(rf"^{_SHORT_IMAGE}$")
_TAG_RE = re.compile(r"^v?[0-9][A-Za-z0-9._-]{0,127}$")


def _name(text: str, what: str) -> str:
    if len(text) > _MAX_NAME or not _NAME_RE.match(text):
        raise IntentRefused(f"{text!r} is not a valid {what} name (lowercase letters, digits, '-' and '.')")
    return text


def _target(text: str) -> IntentTarget:
    """`NS/NAME` or `NAME`."""
    namespace, slash, name = text.partition("/")
    if not slash:
        return IntentTarget(name=_name(text, "workload"))
    return IntentTarget(namespace=_name(namespace, "namespace"), name=_name(name, "workload"))


def _image(text: str) -> str:
    if _IMAGE_RE.match(text) or _SHORT_IMAGE_RE.match(text):
        return text
    raise IntentRefused(f"{text!r} is not an image reference (registry/name:tag)")


# ---- values and their bounds ---------------------------------------------------------------------


def _replicas(text: str, bounds: IntentBounds) -> int:
    cleaned = text.replace(",", "").replace("_", "")
    if not cleaned.isdigit():
        raise IntentRefused(f"{text!r} is not a number of replicas")
    value = int(cleaned)
    if value < 1:
        raise IntentOutOfBounds(
            "scaling to zero replicas is not a change medic makes on request (the policy forbids it)"
        )
    if value > bounds.max_replicas:
        raise IntentOutOfBounds(
            f"{value} replicas is more than the policy's maximum of {bounds.max_replicas} "
            "(bounds.max_replicas)"
        )
    return value


_UNIT_ALIASES = {
    "gib": "Gi",
    "mib": "Mi",
    "kib": "Ki",
    "tib": "Ti",
    "gi": "Gi",
    "mi": "Mi",
    "ki": "Ki",
    "ti": "Ti",
    "gb": "G",
    "mb": "M",
    "g": "G",
    "m": "M",
    "t": "T",
    "tb": "T",
}


def _memory(text: str, bounds: IntentBounds) -> str:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)", text.strip())
    if match is None or match.group(2).lower() not in _UNIT_ALIASES:
        raise IntentRefused(f"{text!r} is not an amount of memory (say 512Mi or 1Gi)")
    number, unit = match.group(1), match.group(2)
    quantity = (
        f"{number}{unit if unit in ('Gi', 'Mi', 'Ki', 'Ti', 'G', 'M', 'T') else _UNIT_ALIASES[unit.lower()]}"
    )
    value = parse_quantity(quantity)
    if value < bounds.min_memory:
        raise IntentOutOfBounds(
            f"{quantity} of memory is below the policy's floor of {format_memory(bounds.min_memory)}"
        )
    if value > bounds.max_memory:
        raise IntentOutOfBounds(
            f"{quantity} of memory is more than the most a request may ask for "
            f"({format_memory(bounds.max_memory)})"
        )
    return quantity


def _cpu(text: str, bounds: IntentBounds) -> str:
    raw = text.strip().lower()
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*(m|millicores?|cores?|cpus?|vcpus?)?", raw)
    if match is None:
        raise IntentRefused(f"{text!r} is not an amount of CPU (say 500m or 2)")
    number, unit = match.group(1), match.group(2) or ""
    quantity = f"{number}m" if unit.startswith("m") else number
    try:
        value = parse_quantity(quantity)
    except QuantityError as err:
        raise IntentRefused(str(err)) from err
    if value < bounds.min_cpu:
        raise IntentOutOfBounds(f"{quantity} of CPU is below the policy's floor of {bounds.min_cpu} cores")
    if value > bounds.max_cpu:
        raise IntentOutOfBounds(
            f"{quantity} of CPU is more than the most a request may ask for ({bounds.max_cpu} cores)"
        )
    return quantity


def _revision(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise IntentRefused(f"{text!r} is not a revision number (1, 2, 3 ...)")
    return int(text)


# ---- the structured form -------------------------------------------------------------------------

_VERBS = ("set-image", "scale", "set-resources", "rollback", "restart", "sync-app")
_RESOURCE_KEYS = {
    "memory": ("limits", "memory"),
    "cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"),
    "requests.cpu": ("requests", "cpu"),
    "limits.memory": ("limits", "memory"),
    "limits.cpu": ("limits", "cpu"),
}


def _usage(verb: str) -> str:
    return {
        "set-image": "set-image NS/NAME [CONTAINER=]IMAGE",
        "scale": "scale NS/NAME REPLICAS",
        "set-resources": "set-resources NS/NAME [CONTAINER] memory=1Gi cpu=500m",
        "rollback": "rollback NS/NAME [REVISION]",
        "restart": "restart NS/NAME",
        "sync-app": "sync-app APPLICATION",
    }[verb]


def _structured(verb: str, args: list[str], bounds: IntentBounds) -> IntentChange:
    usage = f"usage: {_usage(verb)}"
    if not args:
        raise IntentRefused(f"{verb} needs a target; {usage}")
    if verb == "sync-app":
        if len(args) != 1:
            raise IntentRefused(usage)
        return IntentChange(kind="sync_application", target=IntentTarget(name=_name(args[0], "application")))
    target = _target(args[0])
    rest = args[1:]
    if verb == "restart":
        if rest:
            raise IntentRefused(usage)
        return IntentChange(kind="restart", target=target)
    if verb == "rollback":
        if len(rest) > 1:
            raise IntentRefused(usage)
        revision = _revision(rest[0]) if rest else None
        return IntentChange(kind="rollback_revision", target=target, revision=revision)
    if verb == "scale":
        if len(rest) != 1:
            raise IntentRefused(usage)
        return IntentChange(kind="scale", target=target, replicas=_replicas(rest[0], bounds))
    if verb == "set-image":
        if len(rest) != 1:
            raise IntentRefused(usage)
        container, eq, image = rest[0].rpartition("=")
        if eq and not container:
            raise IntentRefused(usage)
        return IntentChange(
            kind="set_image",
            target=target,
            container=_name(container, "container") if eq else None,
            image=_image(image),
        )
    # set-resources
    named: str | None = None
    if rest and "=" not in rest[0]:
        named, rest = _name(rest[0], "container"), rest[1:]
    if not rest:
        raise IntentRefused(f"set-resources needs at least one of memory=, cpu=; {usage}")
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    for arg in rest:
        key, eq, value = arg.partition("=")
        field = _RESOURCE_KEYS.get(key.lower())
        if not eq or field is None:
            keys = ", ".join(_RESOURCE_KEYS)
            raise IntentRefused(f"{arg!r} is not a resource setting; use {keys} (KEY=VALUE)")
        where, resource = field
        quantity = _memory(value, bounds) if resource == "memory" else _cpu(value, bounds)
        (limits if where == "limits" else requests)[resource] = quantity
    return IntentChange(
        kind="set_resources", target=target, container=named, requests=requests, limits=limits
    )


# ---- free text -----------------------------------------------------------------------------------

# A target as people name it: `shop/checkout`, `checkout`, `the checkout deployment`,
# `checkout in shop`, `checkout in the shop namespace`, `checkout's`.
_T = (
    r"(?:the\s+)?(?P<name>{n}(?:/{n})?)(?:'s)?"
    r"(?:\s+(?:deployment|statefulset|daemonset|service|app|application|workload|pods?|replicas))?"
    r"(?:\s+(?:in|from|on)\s+(?:the\s+)?(?:namespace\s+)?(?P<ns>{n})(?:\s+namespace)?)?"
).format(n=r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?")
_N = r"(?P<count>[0-9][0-9,_]*)"
_REPLICA_WORD = r"(?:replicas?|pods?|instances?|copies|copy|nodes?)"
_MEM = r"(?P<mem>[0-9]+(?:\.[0-9]+)?\s*(?:gib|mib|kib|tib|gi|mi|ki|ti|gb|mb|tb|g|m|t))"
_MEM_WORD = r"(?:of\s+)?(?:memory|ram|mem)(?:\s+limit)?"
_CPU = r"(?P<cpu>[0-9]+(?:\.[0-9]+)?\s*(?:m|millicores?|cores?|cpus?|vcpus?))"
_IMG = rf"(?P<image>{_IMAGE}|{_SHORT_IMAGE})"
_VERSION = r"(?:version\s+|tag\s+)?(?P<tag>v?[0-9][A-Za-z0-9._-]*)"
_PREVIOUS = (
    r"(?:(?:to\s+)?(?:the\s+)?(?:yesterday'?s?|previous|prior|last(?:\s+good)?|earlier|old|former|"
    r"last\s+working|before)(?:\s+(?:version|release|revision|deploy(?:ment)?|one|build))?)"
)

# (pattern, what it reads); tried in order, the first full match wins.
_PATTERNS: list[tuple[str, str]] = [
    # scale
    (
        rf"scale\s+(?:up\s+|down\s+|out\s+)?{_T}\s+(?:up\s+|down\s+|out\s+)?to\s+{_N}(?:\s+{_REPLICA_WORD})?",
        "scale",
    ),
    (rf"scale\s+(?:up\s+|down\s+|out\s+)?{_T}\s+{_N}", "scale"),
    (
        rf"(?:set|change|update)\s+(?:the\s+)?(?:replicas?|replica\s+count|number\s+of\s+replicas)\s+(?:of|for|on)\s+{_T}\s+to\s+{_N}",
        "scale",
    ),
    (rf"(?:set|change|update)\s+{_T}\s+(?:replicas?|replica\s+count)\s+to\s+{_N}", "scale"),
    (rf"(?:run|give\s+me|i\s+want|we\s+need|have)\s+{_N}\s+{_REPLICA_WORD}\s+of\s+{_T}", "scale"),
    (rf"(?:give|let)\s+{_T}\s+(?:run\s+)?{_N}\s+{_REPLICA_WORD}", "scale"),
    (
        rf"(?:increase|raise|bump|grow|reduce|lower|decrease|shrink|bring)\s+{_T}\s+(?:up\s+|down\s+)?to\s+{_N}\s+{_REPLICA_WORD}",
        "scale",
    ),
    (rf"{_T}\s+(?:should\s+(?:run|have)|needs)\s+{_N}\s+{_REPLICA_WORD}", "scale"),
    (rf"{_T}\s+to\s+{_N}\s+{_REPLICA_WORD}", "scale"),
    # memory
    (rf"(?:give|allow|allocate)\s+{_T}\s+{_MEM}\s+{_MEM_WORD}", "memory"),
    (rf"(?:give|allow|allocate)\s+{_T}\s+{_MEM_WORD}\s+of\s+{_MEM}", "memory"),
    (
        rf"(?:set|raise|increase|bump|change|lower|reduce|update)\s+(?:the\s+)?(?:memory|ram|mem)(?:\s+limit)?\s+(?:of|for|on)\s+{_T}\s+to\s+{_MEM}",
        "memory",
    ),
    (
        rf"(?:set|raise|increase|bump|change|lower|reduce|update)\s+{_T}\s+(?:memory|ram|mem)(?:\s+limit)?\s+to\s+{_MEM}",
        "memory",
    ),
    (rf"{_T}\s+needs\s+{_MEM}\s+{_MEM_WORD}", "memory"),
    (rf"{_T}\s+needs\s+more\s+memory\s*(?::|,)?\s*{_MEM}", "memory"),
    # cpu
    (rf"(?:give|allow|allocate)\s+{_T}\s+{_CPU}(?:\s+of\s+cpu|\s+cpu)?", "cpu"),
    (
        rf"(?:set|raise|increase|bump|change|lower|reduce|update)\s+(?:the\s+)?cpu(?:\s+request)?\s+(?:of|for|on)\s+{_T}\s+to\s+{_CPU}",
        "cpu",
    ),
    (
        rf"(?:set|raise|increase|bump|change|lower|reduce|update)\s+(?:the\s+)?cpu(?:\s+request)?\s+(?:of|for|on)\s+{_T}\s+to\s+(?P<cpu>[0-9]+(?:\.[0-9]+)?)",
        "cpu",
    ),
    (
        rf"(?:set|raise|increase|bump|change|lower|reduce|update)\s+{_T}\s+cpu(?:\s+request)?\s+to\s+{_CPU}",
        "cpu",
    ),
    # image: a whole reference
    (
        rf"(?:bump|update|upgrade|move|set|switch|change|roll|deploy|release|ship|push)\s+{_T}\s+(?:out\s+)?(?:to|with|on)\s+(?:image\s+)?{_IMG}",
        "image",
    ),
    (rf"(?:set|change|update)\s+(?:the\s+)?image\s+(?:of|for|on)\s+{_T}\s+to\s+{_IMG}", "image"),
    (rf"(?:deploy|release|ship|roll\s+out|rollout|push)\s+{_IMG}\s+(?:to|on|into|in|for)\s+{_T}", "image"),
    (rf"(?:use|run)\s+{_IMG}\s+(?:for|on|in)\s+{_T}", "image"),
    # image: a version of the current image
    (rf"(?:bump|update|upgrade|move|roll|deploy|release|ship)\s+{_T}\s+(?:out\s+)?to\s+{_VERSION}", "tag"),
    (
        rf"(?:deploy|release|ship|roll\s+out)\s+(?:version\s+)?(?P<tag>v?[0-9][A-Za-z0-9._-]*)\s+of\s+{_T}",
        "tag",
    ),
    # rollback
    (rf"roll\s+{_T}\s+back(?:\s+{_PREVIOUS})?", "rollback"),
    (rf"roll\s*back\s+{_T}(?:\s+{_PREVIOUS})?", "rollback"),
    (rf"roll\s*back\s+{_T}\s+to\s+revision\s+(?P<rev>[0-9]+)", "rollback"),
    (rf"roll\s+{_T}\s+back\s+to\s+revision\s+(?P<rev>[0-9]+)", "rollback"),
    (rf"(?:revert|restore|return)\s+{_T}(?:\s+{_PREVIOUS})?", "rollback"),
    (
        rf"(?:undo|revert)\s+(?:the\s+)?(?:last|latest|previous)\s+(?:deploy(?:ment)?|release|rollout|change)\s+(?:of|to|on)\s+{_T}",
        "rollback",
    ),
    (
        rf"go\s+back\s+to\s+(?:the\s+)?(?:previous|prior|last|old|earlier)\s+(?:version|release|revision)\s+of\s+{_T}",
        "rollback",
    ),
    # restart
    (rf"(?:restart|bounce|recycle|reboot|cycle|kick)\s+{_T}", "restart"),
    (rf"(?:do\s+a\s+)?(?:rolling\s+restart|rollout\s+restart|restart)\s+(?:of|for)\s+{_T}", "restart"),
    (
        rf"(?:restart|bounce|recycle|cycle|kill)\s+(?:all\s+)?(?:the\s+)?(?:pods|containers)\s+(?:of|for|in)\s+{_T}",
        "restart",
    ),
    (rf"turn\s+{_T}\s+off\s+and\s+on\s+again", "restart"),
    # sync
    (
        rf"(?:sync|resync|re-sync|refresh\s+and\s+sync)\s+(?:the\s+)?(?:argo\s*cd\s+)?(?:app(?:lication)?\s+)?(?P<app>{_NAME})(?:\s+app(?:lication)?)?(?:\s+in\s+argo\s*cd)?",
        "sync",
    ),
]
_COMPILED = [(re.compile(p, re.IGNORECASE), what) for p, what in _PATTERNS]

_LEAD = re.compile(
    r"^(?:(?:please|pls|kindly|hey\s+medic|medic|ok|okay)[,:]?\s+|(?:can|could|would|will)\s+you\s+(?:please\s+)?"
    r"|i\s+(?:want|need|would\s+like)\s+(?:you\s+)?to\s+|we\s+(?:need|want)\s+to\s+|let'?s\s+|go\s+ahead\s+and\s+)+",
    re.IGNORECASE,
)
# A purpose or timing clause after the change says why, not what: "for the sale", "because ...".
_TAIL = re.compile(
    r"(?:[,;]?\s+(?:for|because|since|so\s+that|so|as|due\s+to|during|until|till|ahead\s+of|"
    r"before|after|right\s+now|now|asap|today|tonight|please|thanks|thank\s+you)\b.*)$",
    re.IGNORECASE,
)


def _strip(words: str) -> str:
    text = " ".join(words.split()).strip().rstrip(".!?").strip()
    text = _LEAD.sub("", text)
    return text


def _free_text(words: str, bounds: IntentBounds) -> IntentChange:
    text = _strip(words)
    candidates = [text]
    stripped = _TAIL.sub("", text).strip().rstrip(",;")
    if stripped and stripped != text:
        candidates.append(stripped)
    for candidate in candidates:
        for pattern, what in _COMPILED:
            match = pattern.fullmatch(candidate)
            if match is not None:
                return _read(match, what, bounds)
    raise IntentUnreadable(f"could not read {_shown(words)} as a change; {_TRY}")


def _shown(words: str, limit: int = 80) -> str:
    line = " ".join(words.split())
    return repr(line if len(line) <= limit else line[: limit - 1] + "…")


def _free_target(match: re.Match[str]) -> IntentTarget:
    name, namespace = match.group("name"), match.group("ns")
    target = _target(name.lower())
    if namespace:
        namespace = namespace.lower()
        if target.namespace and target.namespace != namespace:
            raise IntentRefused(
                f"{name} names namespace {target.namespace}, but the request says {namespace}"
            )
        target = IntentTarget(namespace=_name(namespace, "namespace"), name=target.name)
    return target


def _read(match: re.Match[str], what: str, bounds: IntentBounds) -> IntentChange:
    groups = match.groupdict()
    if what == "sync":
        return IntentChange(
            kind="sync_application",
            target=IntentTarget(name=_name(groups["app"].lower(), "application")),
            form="free_text",
        )
    target = _free_target(match)
    if what == "scale":
        return IntentChange(
            kind="scale", target=target, replicas=_replicas(groups["count"], bounds), form="free_text"
        )
    if what == "memory":
        memory = _memory(groups["mem"], bounds)
        return IntentChange(kind="set_resources", target=target, limits={"memory": memory}, form="free_text")
    if what == "cpu":
        cpu = _cpu(groups["cpu"], bounds)
        return IntentChange(kind="set_resources", target=target, requests={"cpu": cpu}, form="free_text")
    if what == "image":
        return IntentChange(kind="set_image", target=target, image=_image(groups["image"]), form="free_text")
    if what == "tag":
        tag = groups["tag"]
        if not _TAG_RE.match(tag):
            raise IntentRefused(f"{tag!r} is not an image tag")
        return IntentChange(kind="set_image", target=target, image_tag=tag, form="free_text")
    if what == "rollback":
        revision = _revision(groups["rev"]) if groups.get("rev") else None
        return IntentChange(kind="rollback_revision", target=target, revision=revision, form="free_text")
    return IntentChange(kind="restart", target=target, form="free_text")


# ---- a change read elsewhere ---------------------------------------------------------------------


def within_bounds(change: IntentChange, bounds: IntentBounds | None = None) -> IntentChange:
    """`change` (read by something other than this grammar: a model) held to the same names and
    bounds as the grammar's readings: valid names, replicas, memory and CPU within `bounds`, only
    memory and CPU set. Its values are normalised as the grammar writes them; raises
    `IntentRefused` / `IntentOutOfBounds` (one line) otherwise."""
    bounds = bounds or IntentBounds()
    target = change.target
    checked = IntentTarget(
        name=_name(target.name, "application" if change.kind == "sync_application" else "workload"),
        namespace=_name(target.namespace, "namespace") if target.namespace is not None else None,
        kind=target.kind,
    )
    update: dict[str, Any] = {"target": checked}
    if change.container is not None:
        update["container"] = _name(change.container, "container")
    if change.kind == "scale":
        if change.replicas is None:
            raise IntentRefused("a scale needs a number of replicas")
        update["replicas"] = _replicas(str(change.replicas), bounds)
    if change.kind == "set_image":
        if change.image is None and change.image_tag is None:
            raise IntentRefused("an image change needs the image")
        if change.image is not None:
            update["image"] = _image(change.image)
        if change.image_tag is not None and not _TAG_RE.match(change.image_tag):
            raise IntentRefused(f"{change.image_tag!r} is not an image tag")
    if change.kind == "set_resources":
        fields: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
        for where, values in (("requests", change.requests), ("limits", change.limits)):
            for resource, value in values.items():
                if resource not in ("memory", "cpu"):
                    raise IntentRefused(
                        f"{where}.{resource} is not a setting a request may change (memory, cpu)"
                    )
                check = _memory if resource == "memory" else _cpu
                fields[where][resource] = check(value, bounds)
        if not fields["requests"] and not fields["limits"]:
            raise IntentRefused("a resources change needs memory or cpu")
        update.update(fields)
    if change.kind == "rollback_revision" and change.revision is not None:
        update["revision"] = _revision(str(change.revision))
    return change.model_copy(update=update)


# ---- the entry ------------------------------------------------------------------------------------


def parse_intent(words: str, bounds: IntentBounds | None = None) -> IntentChange:
    """The one change `words` ask for: the structured form when they start with one of its verbs,
    else the free-text grammar. Raises `IntentRefused` (one line) when they cannot be read, name
    no valid target, or ask for a value out of `bounds` (default: the shipped policy's)."""
    bounds = bounds or IntentBounds()
    problem = request_problem(words)
    if problem is not None:
        raise IntentRefused(problem)
    parts = words.split()
    verb = parts[0].lower()
    if verb in _VERBS:
        try:
            return _structured(verb, parts[1:], bounds)
        except IntentRefused as structured:
            # "restart the pods of checkout", "scale checkout in shop to 6": the verb starts free
            # text too. A value out of bounds is refused as it is; otherwise the free-text
            # reading is tried, and the structured form's usage is said when it reads nothing.
            if isinstance(structured, IntentOutOfBounds):
                raise
            try:
                return _free_text(words, bounds)
            except IntentUnreadable:
                raise structured from None
    return _free_text(words, bounds)
