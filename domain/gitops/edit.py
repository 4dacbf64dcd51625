"""The file edits a GitOps plan makes: for each action, the change to the file that defines its
field — or the reason there is none. Pure: the repository is a file list and a reader, as in
`domain.gitops.locate`, which names the file and the YAML path.

An edit changes the lines of the values it sets and adds the lines of the keys or entries it adds;
every other byte of the file stays as it was (comments, key order, quoting, indentation, flow
style, other documents of a multi-document file, the trailing newline). This is checked, not
hoped for: the edit is made with ruamel.yaml's round-trip mode, and its result is accepted only
when it has exactly the expected shape — the same lines except the changed ones, the added lines
where they belong — and reads back as the original with just the intended values changed. When
ruamel.yaml reformats anything else, the same values are written by a line-level edit of exactly
those scalars (and inserted lines), checked the same way; when that is not possible either, the
actions on that file are refused with the reason. Nothing is ever guessed.

YAML held in a literal block scalar (an inline Kustomize patch, an Application's `helm.values`)
is edited the same way as a file of its own, then put back in the scalar's indentation, its
unchanged lines byte for byte; a field set piecewise (JSON patch operations, Helm parameters, an
ApplicationSet generator's parameters) has each value the action sets written where its part is
set, and an action with a part set nowhere there is refused.
"""

from __future__ import annotations

import copy
import difflib
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import Field
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RuamelYAMLError

from domain.analysis.plan import Action, Scale, SetImage, SetResources
from domain.base import Frozen
from domain.gitops.locate import Located, YamlPath, helm_values_files, locate_field
from domain.kube.images import ImageRef, split_image
from domain.kube.quantity import QuantityError, parse_quantity

Reader = Callable[[str], str | None]
Method = Literal["round_trip", "line"]
ValueKind = Literal["quantity", "string", "int"]
Style = Literal["plain", "single", "double"]

CONTEXT_LINES = 3
_WIDTH = 1 << 16  # ruamel.yaml must never fold a long line
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?([eE][0-9]+|[KMGTPE]i|[numkMGTPE])?$")
_SEPARATOR = re.compile(r"^---(?:[ \t]|$)")
_DOCUMENT_END = re.compile(r"^\.\.\.(?:[ \t]|$)")
_RESOURCE_SECTIONS = (("requests", "request"), ("limits", "limit"))


# --- the answer --------------------------------------------------------------------------------


class FieldChange(Frozen):
    """One value an action sets. `old` is the value as the file spells it (quotes removed), or None
    when the key or entry is added."""

    action: int  # index into the actions given
    kind: str
    file: str
    document: int = 0
    yaml_path: YamlPath
    old: str | None = None
    new: str
    description: str


class FileChange(Frozen):
    """The change of one file: every action on it, in one edit. `diff` is a unified diff
    (`a/<path>`, `b/<path>`, three lines of context) showing exactly the changed and added lines."""

    path: str
    layout: str
    before: str
    after: str
    diff: str
    description: str
    fields: list[FieldChange]
    method: Method

    @property
    def actions(self) -> list[int]:
        return sorted({f.action for f in self.fields})


class EditRefused(Frozen):
    """An action no file change is made for, and why (never a guess)."""

    found: Literal[False] = False
    action: int
    kind: str
    reason: str
    file: str = ""
    layout: str = ""


class GitOpsEdit(Frozen):
    """The file changes of a plan's GitOps actions. `unchanged` lists values the file already has
    (no change needed); `refused` the actions that cannot be made through Git, with the reason."""

    changes: list[FileChange] = Field(default_factory=list)
    unchanged: list[FieldChange] = Field(default_factory=list)
    refused: list[EditRefused] = Field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every action is either changed in a file or already as asked."""
        return not self.refused


class _Refusal(Exception):
    pass


# --- text helpers ------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    """Lines with their line breaks; only `\\n` (and `\\r\\n`) break lines, as in YAML."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _body(line: str) -> str:
    return line.rstrip("\r\n")


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def unified_diff(path: str, before: str | None, after: str | None, context: int = CONTEXT_LINES) -> str:
    """A unified diff as git shows it (`a/`, `b/` prefixes, `/dev/null` for a side that does not
    exist — None —, the no-newline marker)."""
    old = f"a/{path}" if before is not None else "/dev/null"
    new = f"b/{path}" if after is not None else "/dev/null"
    out: list[str] = []
    for line in difflib.unified_diff(
        _lines(before or ""), _lines(after or ""), old, new, n=context, lineterm="\n"
    ):
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def _dotted(path: YamlPath) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _plain_safe(text: str) -> bool:
    """`text` written without quotes reads back as the same string (YAML 1.1 and 1.2 alike)."""
    if not text or text != text.strip() or "\n" in text:
        return False
    try:
        loaded_11 = yaml.safe_load(text)
        loaded_12 = YAML(typ="safe", pure=True).load(text)
    except (yaml.YAMLError, RuamelYAMLError):
        return False
    return loaded_11 == text and loaded_12 == text and isinstance(loaded_11, str)


def _token(value: str | int, kind: ValueKind, style: Style) -> str:
    """How `value` is written: in the old value's quoting; a plain string that would read back as
    something else (a number, a bool) is double-quoted."""
    text = str(value)
    if style == "double":
        return json.dumps(text, ensure_ascii=False)
    if style == "single":
        return "'" + text.replace("'", "''") + "'"
    if kind in ("int", "quantity") or _plain_safe(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _flow_text(item: dict[str, _Token]) -> str:
    return "{" + ", ".join(f"{k}: {v.text}" for k, v in item.items()) + "}"


# --- documents of a file -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    start: int  # first line (index into the file's lines)
    stop: int  # one past the last line


def _chunks(lines: list[str]) -> list[_Chunk]:
    """The documents of a file as line ranges, separator lines excluded; in the order and number
    that yaml.safe_load_all yields them (checked by the caller)."""
    bounds: list[tuple[int, int]] = []
    start = 0
    for i, line in enumerate(lines):
        body = _body(line)
        if _DOCUMENT_END.match(body) or body.startswith("%"):
            raise _Refusal("document end markers and directives are not edited")
        if _SEPARATOR.match(body):
            rest = body[3:].strip()
            if rest and not rest.startswith("#"):
                raise _Refusal("a document that starts on its '---' line is not edited")
            bounds.append((start, i))
            start = i + 1
    bounds.append((start, len(lines)))
    chunks = [_Chunk(a, b) for a, b in bounds]
    if len(chunks) > 1 and not any(_is_content(line) for line in lines[chunks[0].start : chunks[0].stop]):
        chunks = chunks[1:]  # comments (or nothing) before the first '---' are no document
    return chunks


@dataclass(frozen=True)
class _Indentation:
    mapping: int = 2
    sequence: int = 2  # column of an item's content, from its parent key
    offset: int = 0  # column of the dash, from its parent key


def _key_column(body: str) -> int:
    """Column of the key on a line, past any `- ` item markers."""
    col = _indent_of(body)
    while body[col : col + 2] == "- ":
        col += 2
        while col < len(body) and body[col] == " ":
            col += 1
    return col


def _detect_indentation(lines: list[str]) -> _Indentation:
    """The file's habits: how far a nested mapping is indented, where a sequence's dash and content
    sit relative to the parent key (`key:\\n  - a` is offset 2, sequence 4; `key:\\n- a` is 0, 2)."""
    content = [_body(line) for line in lines if _is_content(line)]
    mappings: Counter[int] = Counter()
    sequences: Counter[tuple[int, int]] = Counter()
    for parent, child in zip(content, content[1:], strict=False):
        bare = re.sub(r"\s+#.*$", "", parent)
        if not bare.endswith(":") or bare.lstrip(" -") == ":":
            continue
        key_col = _key_column(parent)
        child_col = _indent_of(child)
        if child[child_col:].startswith("- ") or child[child_col:] == "-":
            after = child_col + 1
            while after < len(child) and child[after] == " ":
                after += 1
            if child_col >= key_col:
                sequences[(after - key_col, child_col - key_col)] += 1
        elif child_col > key_col:
            mappings[child_col - key_col] += 1
    mapping = mappings.most_common(1)[0][0] if mappings else 2
    sequence, offset = sequences.most_common(1)[0][0] if sequences else (2, 0)
    return _Indentation(mapping, max(sequence, offset + 2), offset)


def _yaml(indentation: _Indentation) -> YAML:
    rt = YAML(typ="rt", pure=True)
    rt.preserve_quotes = True
    rt.width = _WIDTH
    rt.indent(mapping=indentation.mapping, sequence=indentation.sequence, offset=indentation.offset)
    return rt


# --- what each action sets ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str


@dataclass(frozen=True)
class _Op:
    """One value an action sets (`path` may not exist yet), or with `append`, one entry added to
    the sequence at `path`."""

    action: int
    kind: str
    document: int
    path: YamlPath
    value: str | int
    value_kind: ValueKind
    label: str
    who: str
    append: dict[str, str | int] | None = None


@dataclass(frozen=True)
class _OpsOf:
    """Makes the ops of one action."""

    action: int
    kind: str
    document: int
    who: str

    def op(
        self,
        path: YamlPath,
        value: str | int,
        kind: ValueKind,
        label: str,
        append: dict[str, str | int] | None = None,
    ) -> _Op:
        return _Op(self.action, self.kind, self.document, path, value, kind, label, self.who, append)


@dataclass(frozen=True)
class _Repository:
    read: Reader
    files: list[str]
    sources: list[dict[str, Any]]


def _who(action: Any) -> str:
    target = action.target
    if target.container and target.container != target.name:
        return f"{target.name}/{target.container}"
    return str(target.name)


def _get_plain(doc: Any, path: YamlPath) -> Any:
    node = doc
    for key in path:
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                return None
        elif not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _ops_for(index: int, action: Any, loc: Located, doc: Any, repo: _Repository) -> list[_Op]:
    """The values `action` sets at `loc`, read against the located document (plain data)."""
    make = _OpsOf(index, action.kind, loc.inline_document if loc.inline else loc.document, _who(action))
    path = loc.yaml_path
    if isinstance(action, SetResources):
        if not action.requests and not action.limits:
            raise _Refusal("the action sets no request or limit")
        ops = []
        for section, word in _RESOURCE_SECTIONS:
            for name, quantity in getattr(action, section).items():
                text = str(quantity).strip()
                if not _KEY.match(name):
                    raise _Refusal(f"{name!r} is not a resource name medic writes")
                try:
                    parse_quantity(text)
                except QuantityError as exc:
                    raise _Refusal(str(exc)) from exc
                if not _QUANTITY.match(text):
                    raise _Refusal(f"not a Kubernetes quantity: {text!r}")
                ops.append(make.op(_leaf_path(loc, (section, name)), text, "quantity", f"{name} {word}"))
        return ops
    if isinstance(action, Scale):
        if path == ("replicas",):  # Kustomize: no entry yet
            if not loc.entry_name:
                raise _Refusal(f"{loc.file} has no replicas entry and the entry's name is unknown")
            entry: dict[str, str | int] = {"name": loc.entry_name, "count": action.replicas}
            return [make.op(path, action.replicas, "int", "replicas", append=entry)]
        return [make.op(_leaf_path(loc, ()), action.replicas, "int", "replicas")]
    if isinstance(action, SetImage):
        return _image_ops(make, action.image, loc, doc, repo)
    raise _Refusal(f"a {action.kind} action changes no file")


def _leaf_path(loc: Located, rel: YamlPath) -> YamlPath:
    """The path of the part `rel` of the located field: below it, or where `subpaths` says."""
    if not loc.subpaths:
        return (*loc.yaml_path, *rel)
    table = dict(loc.subpaths)
    for cut in range(len(rel), -1, -1):
        key = ".".join(map(str, rel[:cut]))
        if key in table:
            return (*table[key], *rel[cut:])
    parts = ", ".join(k or "all of it" for k in table)
    where = f"{loc.file} {_dotted(loc.inline)}" if loc.inline else loc.file
    raise _Refusal(
        f"{where} sets only {parts} of the field, not {'.'.join(map(str, rel))}, which is set elsewhere; "
        "medic does not split one change over several places"
    )


def _image_ops(make: _OpsOf, image_ref: str, loc: Located, doc: Any, repo: _Repository) -> list[_Op]:
    image = split_image(image_ref.strip())
    path = loc.yaml_path
    if not image.repository or " " in image_ref.strip():
        raise _Refusal(f"not an image reference: {image_ref!r}")
    if path[-1] == "image":  # a manifest's container
        return [make.op(path, image_ref.strip(), "string", "image")]
    if image.digest:
        raise _Refusal(f"{image_ref} pins a digest; medic sets tags in {loc.file}, not digests")
    if not image.tag:
        raise _Refusal(f"{image_ref} names no tag")
    if loc.layout == "kustomize":
        if path == ("images",):
            if not loc.entry_name:
                raise _Refusal(f"{loc.file} has no images entry and the image's name is unknown")
            entry: dict[str, str | int] = {"name": loc.entry_name}
            if image.repository != loc.entry_name:
                entry["newName"] = image.repository
            entry["newTag"] = image.tag
            return [make.op(path, image.tag, "string", "image", append=entry)]
        current = _get_plain(doc, path[:-1])
        if not isinstance(current, dict):
            raise _Refusal(f"{_dotted(path[:-1])} in {loc.file} is not an images entry")
        if current.get("digest"):
            raise _Refusal(f"the images entry {current.get('name')} in {loc.file} pins a digest")
        ops = []
        if image.repository != str(current.get("newName") or current.get("name") or ""):
            ops.append(make.op((*path[:-1], "newName"), image.repository, "string", "image name"))
        ops.append(make.op(path, image.tag, "string", "image tag"))
        return ops
    return _helm_image_ops(make, image, image_ref, loc, doc, repo)


def _helm_image_ops(
    make: _OpsOf, image: ImageRef, image_ref: str, loc: Located, doc: Any, repo: _Repository
) -> list[_Op]:
    """image.tag, and image.repository when the image comes from elsewhere. Which repository the
    chart pulls is read from the values files (the last that sets it wins); when none does, it
    is the chart's default, unknown here, and the action is refused."""
    prefix = loc.yaml_path[:-1]
    if not isinstance(_get_plain(doc, prefix), dict):
        raise _Refusal(f"{_dotted(prefix)} in {loc.file} is not a mapping")
    chain = helm_values_files(repo.sources, loc.file, repo.files) or [loc.file]

    def last_setting(key: str) -> tuple[str, Any]:
        for values_file in reversed(chain):
            text = repo.read(values_file)
            try:
                docs = list(yaml.safe_load_all(text)) if text is not None else []
            except yaml.YAMLError:
                docs = []
            values = next((d for d in docs if isinstance(d, dict)), {})
            if (value := _get_plain(values, (*prefix, key))) is not None:
                return values_file, value
        return "", None

    repository_file, repository = last_setting("repository")
    _, registry = last_setting("registry")
    repository_path = _dotted((*prefix, "repository"))
    if not isinstance(repository, str) or not repository:
        raise _Refusal(
            f"no values file sets {repository_path}: the chart's default repository is unknown, so "
            f"setting only the tag of {image_ref} could pull another image"
        )
    registry = registry if isinstance(registry, str) else ""
    ops = []
    if image.repository != (f"{registry}/{repository}" if registry else repository):
        if registry and not image.repository.startswith(f"{registry}/"):
            raise _Refusal(
                f"{image_ref} is not in the registry {registry} that {_dotted((*prefix, 'registry'))} sets"
            )
        if chain.index(repository_file) > chain.index(loc.file):
            raise _Refusal(
                f"{repository_file} sets {repository_path} and takes precedence over {loc.file}, "
                "where the tag is set"
            )
        new_repository = image.repository[len(registry) + 1 :] if registry else image.repository
        ops.append(make.op((*prefix, "repository"), new_repository, "string", "image repository"))
    ops.append(make.op(loc.yaml_path, image.tag, "string", "image tag"))
    return ops


# --- reading the file's nodes ------------------------------------------------------------------


@dataclass
class _Scalar:
    """An existing scalar: where it is written, how it is quoted."""

    line: int  # file line
    col: int
    end: int
    style: Style
    value: str  # its value as written, quotes removed


@dataclass
class _Target:
    """Where an op lands in the round-trip tree."""

    op: _Op
    scalar: _Scalar | None = None  # an existing value to replace
    container: Any = None  # else the deepest existing mapping / sequence on the way
    container_path: YamlPath = ()
    rest: YamlPath = ()  # keys to add below `container`


def _is_flow(node: Any) -> bool:
    return bool(node.fa.flow_style())


def _anchored(node: Any) -> bool:
    anchor = getattr(node, "anchor", None)
    return anchor is not None and getattr(anchor, "value", None) is not None


def _walk(root: Any, path: YamlPath, file: str) -> tuple[Any, int]:
    """The deepest existing node on `path` and how many keys of it exist."""
    node = root
    for depth, key in enumerate(path):
        where = _dotted(path[:depth]) or "the document"
        if _anchored(node):
            raise _Refusal(
                f"{where} in {file} is a YAML anchor or alias: changing it would change every place "
                "that shares it"
            )
        if isinstance(key, int):
            if not isinstance(node, CommentedSeq) or key >= len(node):
                raise _Refusal(f"{where} in {file} has no item {key}")
        else:
            if not isinstance(node, CommentedMap):
                raise _Refusal(f"{where} in {file} is not a mapping")
            if key not in node:
                return node, depth
            if not node.lc.data or key not in node.lc.data:
                raise _Refusal(f"{_dotted(path[: depth + 1])} in {file} comes from a YAML merge key")
        node = node[key]
    return node, len(path)


def _scan_scalar(body: str, col: int, flow: bool) -> tuple[int, Style] | None:
    """End column and quoting of the one-line scalar that starts at `col`, or None."""
    if col >= len(body):
        return None
    first = body[col]
    if first == '"':
        j = col + 1
        while j < len(body):
            if body[j] == "\\":
                j += 2
                continue
            if body[j] == '"':
                return j + 1, "double"
            j += 1
        return None
    if first == "'":
        j = col + 1
        while j < len(body):
            if body[j] == "'":
                if body[j + 1 : j + 2] == "'":
                    j += 2
                    continue
                return j + 1, "single"
            j += 1
        return None
    if first in "&*!|>[{#,":
        return None
    end = len(body)
    comment = re.search(r"[ \t]#", body[col:])
    if comment:
        end = col + comment.start()
    if flow:
        stop = re.search(r"[,\]}]", body[col:end])
        if stop:
            end = col + stop.start()
    end = col + len(body[col:end].rstrip())
    return (end, "plain") if end > col else None


def _scalar_at(
    lines: list[str], first: int, container: Any, key: str | int, expected: Any, where: str
) -> _Scalar:
    line, col = container.lc.item(key) if isinstance(key, int) else container.lc.value(key)
    line += first
    if expected is None or isinstance(expected, (dict, list)):
        raise _Refusal(f"{where} is {'empty' if expected is None else 'not a single value'}")
    body = _body(lines[line]) if line < len(lines) else ""
    scanned = _scan_scalar(body, col, _is_flow(container))
    if scanned is None:
        raise _Refusal(f"{where} is not a one-line scalar medic can rewrite")
    end, style = scanned
    text = body[col:end]
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _Refusal(f"{where} is not a one-line scalar medic can rewrite") from exc
    if loaded != expected or type(loaded) is not type(expected):  # e.g. continued on the next line
        raise _Refusal(f"{where} is not a one-line scalar medic can rewrite")
    value = text if style == "plain" else str(loaded)
    return _Scalar(line=line, col=col, end=end, style=style, value=value)


# --- one file ----------------------------------------------------------------------------------


@dataclass
class _Plan:
    """The edit of one file: replaced scalars, inserted blocks, and what the result must read as."""

    replacements: list[tuple[int, int, int, str]] = field(default_factory=list)  # line, col, end, text
    inserts: list[tuple[int, int, list[str]]] = field(default_factory=list)  # after line, col, lines
    changed_lines: set[int] = field(default_factory=set)  # lines the round trip may rewrite
    line_edit_possible: bool = True
    why_not_line: str = ""
    unflow: list[Any] = field(default_factory=list)  # empty flow collections that become blocks


def _block_end(lines: list[str], start: int, stop: int, col: int, sequence: bool) -> int:
    """Last content line of the block collection whose first line is `start` and whose keys
    (or dashes) sit at `col`."""
    last = start
    for i in range(start + 1, stop):
        if not _is_content(lines[i]):
            continue
        body = _body(lines[i])
        indent = _indent_of(body)
        rest = body[indent:]
        if indent < col or (sequence and indent == col and not (rest == "-" or rest.startswith("- "))):
            break
        last = i
    return last


def _render(content: dict[str, Any], col: int, ind: _Indentation, newline: str) -> list[str]:
    out: list[str] = []
    for key, value in content.items():
        if isinstance(value, dict):
            out.append(f"{' ' * col}{key}:{newline}")
            out += _render(value, col + ind.mapping, ind, newline)
        elif isinstance(value, list):
            out.append(f"{' ' * col}{key}:{newline}")
            for item in value:
                out += _render_item(item, col + ind.offset, ind.sequence - ind.offset, newline)
        else:
            out.append(f"{' ' * col}{key}: {value.text}{newline}")
    return out


def _render_item(item: dict[str, _Token], dash: int, delta: int, newline: str) -> list[str]:
    out = []
    for n, (key, value) in enumerate(item.items()):
        lead = " " * dash + "-" + " " * (delta - 1) if n == 0 else " " * (dash + delta)
        out.append(f"{lead}{key}: {value.text}{newline}")
    return out


def _nest(keys: YamlPath, leaf: Any) -> Any:
    for key in reversed(keys):
        leaf = {key: leaf}
    return leaf


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key].extend(value)
        else:
            into[key] = value


def _to_rt(value: Any) -> Any:
    """Round-trip nodes for new content; scalars parsed from their token so they dump as written."""
    if isinstance(value, dict):
        out = CommentedMap()
        for key, child in value.items():
            out[key] = _to_rt(child)
        return out
    if isinstance(value, list):
        seq = CommentedSeq()
        seq.extend(_to_rt(item) for item in value)
        return seq
    return _scalar_node(value.text)


def _scalar_node(token: str) -> Any:
    return _yaml(_Indentation()).load(token)


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_plain(v) for v in value]
    return yaml.safe_load(value.text)


def _append_item(op: _Op) -> dict[str, _Token]:
    return {
        k: _Token(_token(v, "int" if isinstance(v, int) else "string", "plain"))
        for k, v in (op.append or {}).items()
    }


def _add_plain(doc: Any, path: YamlPath, item: Any) -> None:
    if _get_plain(doc, path) is None:
        _set_plain(doc, path, [])
    _get_plain(doc, path).append(item)


def _set_plain(doc: Any, path: YamlPath, value: Any) -> None:
    node = doc
    for key in path[:-1]:
        if isinstance(node, dict) and key not in node:
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


def _fits(before: list[str], after: list[str], changed: set[int], inserted: dict[int, int]) -> bool:
    """`after` is `before` with only the `changed` lines rewritten (one for one) and exactly
    `inserted[i]` new lines before line i."""
    j = 0
    for i in range(len(before) + 1):
        j += inserted.get(i, 0)
        if i == len(before):
            break
        if j >= len(after) or (i not in changed and after[j] != before[i]):
            return False
        j += 1
    return j == len(after)


class _FileEdit:
    """Every op on one file, applied once, by round trip or by line edit, and checked."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        if re.search("\r(?!\n)|[\x85\u2028\u2029\ufeff]", text):
            raise _Refusal(f"{path} has unusual line breaks or a byte-order mark, which medic does not edit")
        # Work on the text with a final newline; it is removed again at the end.
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self.missing_newline = bool(text) and not text.endswith("\n")
        self.work = text + self.newline if self.missing_newline else text
        self.lines = _lines(self.work)
        try:
            self.chunks = _chunks(self.lines)
        except _Refusal as exc:
            raise _Refusal(f"{path}: {exc}") from exc
        try:
            self.docs = list(yaml.safe_load_all(self.work))
        except yaml.YAMLError as exc:
            raise _Refusal(f"{path} is not valid YAML") from exc
        if len(self.docs) != len(self.chunks):
            raise _Refusal(f"{path}: its documents cannot be told apart line by line")
        self.indentation = _detect_indentation(self.lines)
        self.trees: dict[int, Any] = {}

    def chunk_text(self, document: int) -> str:
        chunk = self.chunks[document]
        return "".join(self.lines[chunk.start : chunk.stop])

    def tree(self, document: int) -> Any:
        if document not in self.trees:
            if document >= len(self.chunks):
                raise _Refusal(f"{self.path} has no document {document}")
            text = self.chunk_text(document)
            try:
                tree = _yaml(self.indentation).load(text)
                if yaml.safe_load(text) != self.docs[document]:
                    raise _Refusal(f"{self.path}: document {document} cannot be isolated")
            except (RuamelYAMLError, yaml.YAMLError) as exc:
                problem = getattr(exc, "problem", None) or type(exc).__name__
                raise _Refusal(f"{self.path} cannot be read for a round-trip edit: {problem}") from exc
            if not isinstance(tree, (CommentedMap, CommentedSeq)):  # a JSON patch is a list
                raise _Refusal(f"document {document} of {self.path} is not a mapping or a list")
            self.trees[document] = tree
        return self.trees[document]

    # -- resolving ops --

    def target(self, op: _Op) -> _Target:
        tree = self.tree(op.document)
        first = self.chunks[op.document].start
        node, depth = _walk(tree, op.path, self.path)
        where = f"{_dotted(op.path)} in {self.path}"
        if op.append is not None:
            if depth == len(op.path):
                if not isinstance(node, CommentedSeq) or _anchored(node):
                    raise _Refusal(f"{where} is not a list medic can add to")
                return _Target(op, container=node, container_path=op.path)
            return _Target(op, container=node, container_path=op.path[:depth], rest=op.path[depth:])
        if depth == len(op.path):
            parent, _ = _walk(tree, op.path[:-1], self.path)
            expected = _get_plain(self.docs[op.document], op.path)
            scalar = _scalar_at(self.lines, first, parent, op.path[-1], expected, where)
            return _Target(op, scalar=scalar)
        rest = op.path[depth:]
        if any(isinstance(k, int) for k in rest):
            raise _Refusal(f"{_dotted(op.path[: depth + 1])} is not in {self.path}")
        return _Target(op, container=node, container_path=op.path[:depth], rest=rest)

    # -- making the edit --

    def plan(self, targets: list[_Target], tokens: dict[int, str]) -> tuple[_Plan, list[Any]]:
        """The line plan of all targets, and the documents the result must read as."""
        plan = _Plan()
        expected = copy.deepcopy(self.docs)
        groups: dict[int, tuple[_Target, dict[str, Any]]] = {}
        appends: dict[int, tuple[_Target, list[dict[str, _Token]]]] = {}
        for n, t in enumerate(targets):
            op, token = t.op, tokens[n]
            if t.scalar is not None:
                s = t.scalar
                plan.replacements.append((s.line, s.col, s.end, token))
                plan.changed_lines.add(s.line)
                _set_plain(expected[op.document], op.path, yaml.safe_load(token))
                continue
            if op.append is not None:
                item = _append_item(op)
                _add_plain(expected[op.document], op.path, _to_plain(item))
                if not t.rest:
                    appends.setdefault(id(t.container), (t, []))[1].append(item)
                    continue
                content: Any = _nest(t.rest, [item])
            else:
                content = _nest(t.rest, _Token(token))
                _set_plain(expected[op.document], op.path, yaml.safe_load(token))
            group = groups.setdefault(id(t.container), (t, {}))
            _merge(group[1], content)
        for t, content in groups.values():
            self._plan_insert(plan, t, content)
        for t, items in appends.values():
            self._plan_append(plan, t, items)
        return plan, expected

    def _plan_insert(self, plan: _Plan, t: _Target, content: dict[str, Any]) -> None:
        node, first = t.container, self.chunks[t.op.document].start
        ind = self.indentation
        if not len(node) and self._plan_unflow(
            plan, t, lambda col: _render(content, col + ind.mapping, ind, self.newline)
        ):
            return
        if _is_flow(node) or not node.lc.data:
            plan.changed_lines.add(first + node.lc.line)
            plan.line_edit_possible = False
            plan.why_not_line = f"{_dotted(t.container_path) or 'the document'} is a flow mapping"
            return
        key_line, col = node.lc.key(next(iter(node.lc.data)))
        stop = self.chunks[t.op.document].stop
        last = _block_end(self.lines, first + key_line, stop, col, sequence=False)
        plan.inserts.append((last, col, _render(content, col, ind, self.newline)))

    def _plan_append(self, plan: _Plan, t: _Target, items: list[dict[str, _Token]]) -> None:
        node, first = t.container, self.chunks[t.op.document].start
        ind = self.indentation

        def block(dash: int, delta: int) -> list[str]:
            return [line for item in items for line in _render_item(item, dash, delta, self.newline)]

        if not len(node) and self._plan_unflow(
            plan, t, lambda col: block(col + ind.offset, ind.sequence - ind.offset)
        ):
            return
        if _is_flow(node) or not len(node):
            plan.changed_lines.add(first + node.lc.line)
            plan.line_edit_possible = False
            plan.why_not_line = f"{_dotted(t.container_path)} is a flow sequence"
            return
        dash_line, dash = node.lc.line, node.lc.col
        stop = self.chunks[t.op.document].stop
        last = _block_end(self.lines, first + dash_line, stop, dash, sequence=True)
        plan.inserts.append((last, dash, block(dash, node.lc.item(0)[1] - dash)))

    def _plan_unflow(self, plan: _Plan, t: _Target, render: Callable[[int], list[str]]) -> bool:
        """`key: {}` or `key: []` (a trailing comment allowed) becomes `key:` followed by the new
        block, as a person would write it; in the round trip too (the node turns block style)."""
        path = t.container_path
        if not path or isinstance(path[-1], int):
            return False
        parent, _ = _walk(self.tree(t.op.document), path[:-1], self.path)
        if _is_flow(parent):
            return False
        first = self.chunks[t.op.document].start
        (key_line, key_col), (value_line, value_col) = parent.lc.key(path[-1]), parent.lc.value(path[-1])
        line = first + value_line
        body = _body(self.lines[line])
        rest = body[value_col + 2 :].strip()
        if value_line != key_line or body[value_col : value_col + 2] not in ("{}", "[]"):
            return False
        if rest and not rest.startswith("#"):
            return False
        plan.replacements.append((line, len(body[:value_col].rstrip()), value_col + 2, ""))
        plan.changed_lines.add(line)
        plan.inserts.append((line, key_col, render(key_col)))
        plan.unflow.append(t.container)
        return True

    def _inserted(self, plan: _Plan) -> dict[int, int]:
        counts: Counter[int] = Counter()
        for after, _, new in plan.inserts:
            counts[after + 1] += len(new)
        return dict(counts)

    def round_trip(self, plan: _Plan, targets: list[_Target], tokens: dict[int, str]) -> str:
        for node in plan.unflow:
            node.fa.set_block_style()
        for n, t in enumerate(targets):
            op, token = t.op, tokens[n]
            if t.scalar is not None:
                parent, _ = _walk(self.tree(op.document), op.path[:-1], self.path)
                parent[op.path[-1]] = _scalar_node(token)
                continue
            leaf: Any = _Token(token)
            if op.append is not None:
                leaf = [_append_item(op)]
            node, rest = t.container, t.rest
            while rest and rest[0] in node:  # added by an earlier op of this edit
                node, rest = node[rest[0]], rest[1:]
            if rest:
                node[rest[0]] = _to_rt(_nest(rest[1:], leaf))
            elif op.append is not None:
                node.extend(_to_rt(leaf))
        out = list(self.lines)
        for document in sorted(self.trees, reverse=True):
            stream = io.StringIO()
            _yaml(self.indentation).dump(self.trees[document], stream)
            chunk = self.chunks[document]
            out[chunk.start : chunk.stop] = _lines(stream.getvalue())
        return "".join(out)

    def line_edit(self, plan: _Plan) -> str:
        out = list(self.lines)
        # Bottom-up, so that earlier positions stay valid; on one line, right to left; blocks
        # inserted after the same line go deepest first, as they nest.
        edits: list[tuple[int, int, int, str | list[str]]] = [
            (line, col, end, token) for line, col, end, token in plan.replacements
        ]
        edits += [(after, 1 << 30, -col, new) for after, col, new in plan.inserts]
        for line, col, end, payload in sorted(edits, key=lambda e: e[:3], reverse=True):
            if isinstance(payload, list):
                out[line + 1 : line + 1] = payload
            else:
                out[line] = _replace_scalar(out[line], col, end, payload)
        return "".join(out)

    def finish(self, after_work: str, plan: _Plan, expected: list[Any]) -> str | None:
        """The final text if `after_work` has exactly the planned shape and meaning."""
        if not _fits(self.lines, _lines(after_work), plan.changed_lines, self._inserted(plan)):
            return None
        try:
            if list(yaml.safe_load_all(after_work)) != expected:
                return None
        except yaml.YAMLError:
            return None
        return after_work[: -len(self.newline)] if self.missing_newline else after_work


def _replace_scalar(line: str, col: int, end: int, token: str) -> str:
    """`line` with the scalar at [col, end) replaced; a trailing comment keeps its column when the
    spaces before it allow."""
    body, ending = _body(line), line[len(_body(line)) :]
    rest = body[end:]
    spaces = len(rest) - len(rest.lstrip(" "))
    if rest.lstrip(" ").startswith("#") and spaces:
        rest = " " * max(1, spaces - (len(token) - (end - col))) + rest.lstrip(" ")
    return body[:col] + token + rest + ending


# --- the plan's actions ------------------------------------------------------------------------


def _description(op: _Op, old: str | None, new: str, file: str, path: YamlPath) -> str:
    if op.append is not None:
        entry = _flow_text(_append_item(op))
        return f"{op.who}: adds {_dotted(op.path)} entry {entry} in {file} at {_dotted(path)}"
    return (
        f"{op.who}: {op.label} {old if old is not None else '(unset)'} → {new} in {file} at {_dotted(path)}"
    )


def _already(op: _Op, current: Any) -> bool:
    if current is None or isinstance(current, (dict, list, bool)):
        return False
    if op.value_kind == "quantity":
        try:
            return parse_quantity(str(current)) == parse_quantity(str(op.value))
        except QuantityError:
            return False
    if op.value_kind == "int":
        return str(current) == str(op.value)
    return isinstance(current, str) and current == op.value


def _edit_file(
    path: str, layout: str, text: str, ops: list[_Op]
) -> tuple[FileChange | None, list[FieldChange]]:
    """The change of one file for `ops` (None when every value is already set), and the ops
    whose value already is as asked."""
    edit = _FileEdit(path, text)
    unchanged: list[FieldChange] = []
    targets: list[_Target] = []
    for op in ops:
        t = edit.target(op)
        if op.append is None and t.scalar is not None:
            current = _get_plain(edit.docs[op.document], op.path)
            if _already(op, current):
                unchanged.append(
                    FieldChange(
                        action=op.action,
                        kind=op.kind,
                        file=path,
                        document=op.document,
                        yaml_path=op.path,
                        old=t.scalar.value,
                        new=str(op.value),
                        description=f"{op.who}: {op.label} is already {t.scalar.value} in {path} "
                        f"at {_dotted(op.path)}",
                    )
                )
                continue
        targets.append(t)
    if not targets:
        return None, unchanged
    tokens: dict[int, str] = {}
    fields: list[FieldChange] = []
    for n, t in enumerate(targets):
        op = t.op
        style: Style = t.scalar.style if t.scalar is not None else "plain"
        tokens[n] = _token(op.value, op.value_kind, style)
        new = str(op.value)
        field_path = op.path
        if op.append is not None:
            length = _get_plain(edit.docs[op.document], op.path)
            field_path = (*op.path, len(length) if isinstance(length, list) else 0)
            new = _flow_text(_append_item(op))
        old = t.scalar.value if t.scalar is not None else None
        fields.append(
            FieldChange(
                action=op.action,
                kind=op.kind,
                file=path,
                document=op.document,
                yaml_path=field_path,
                old=old,
                new=new,
                description=_description(op, old, new, path, field_path),
            )
        )
    plan, expected = edit.plan(targets, tokens)
    try:
        after = edit.finish(edit.round_trip(plan, targets, tokens), plan, expected)
    except (RuamelYAMLError, ValueError, TypeError):  # the round trip cannot dump it; try a line edit
        after = None
    method: Method = "round_trip"
    if after is None:
        if not plan.line_edit_possible:
            raise _Refusal(
                f"editing {path} would reformat more than the changed lines ({plan.why_not_line}), "
                "and a line edit cannot add to it"
            )
        after = edit.finish(edit.line_edit(plan), plan, expected)
        method = "line"
    if after is None:
        raise _Refusal(f"editing {path} would change more than the intended lines")
    change = FileChange(
        path=path,
        layout=layout,
        before=text,
        after=after,
        diff=unified_diff(path, text, after),
        description="; ".join(f.description for f in fields),
        fields=fields,
        method=method,
    )
    return change, unchanged


def file_changes(
    actions: Sequence[Action],
    sources: list[dict[str, Any]],
    read: Reader,
    files: list[str],
    *,
    destination_namespace: str = "",
    application: str = "",
    application_set: str = "",
) -> GitOpsEdit:
    """The file changes that make `actions` (a plan's actions; only `mode: gitops` ones are made
    through Git) in the repository of the owning Application (`sources`: its spec.source or
    spec.sources). Actions on one file become one `FileChange`, in the order of the actions; an
    action whose file or field cannot be named with confidence, whose value cannot be written
    without touching other lines, or whose named `file` differs from where the field is set is
    refused with the reason. A value the file already has is `unchanged`, not a change.
    `application` names the owning Application (its manifest in the repository is edited when its
    own helm parameters or values win); `application_set` the ApplicationSet that generated it
    (then the generator's source is edited, never the Application)."""
    repo = _Repository(read=read, files=files, sources=sources)
    refused: list[EditRefused] = []
    # per file: its layout, and the ops of each place in it (the file itself: (); a block scalar)
    by_file: dict[str, tuple[str, dict[tuple[int, YamlPath], list[_Op]]]] = {}
    for index, action in enumerate(actions):
        if action.mode != "gitops":
            refused.append(
                EditRefused(action=index, kind=action.kind, reason="a direct action changes no file")
            )
            continue
        loc = locate_field(
            sources,
            action.target,
            action.kind,
            read,
            files,
            destination_namespace=destination_namespace,
            application=application,
            application_set=application_set,
        )
        if not isinstance(loc, Located):
            refused.append(EditRefused(action=index, kind=action.kind, reason=loc.reason, layout=loc.layout))
            continue
        if action.file and action.file != loc.file:
            refused.append(
                EditRefused(
                    action=index,
                    kind=action.kind,
                    file=loc.file,
                    layout=loc.layout,
                    reason=f"the plan names {action.file}, but {_dotted(loc.yaml_path)} is set in {loc.file}",
                )
            )
            continue
        text = read(loc.file)
        try:
            if text is None:
                raise _Refusal(f"{loc.file} cannot be read")
            docs = list(yaml.safe_load_all(text))
            doc = docs[loc.document] if loc.document < len(docs) else None
            if loc.inline:
                inner = _get_plain(doc, loc.inline)
                if not isinstance(inner, str):
                    raise _Refusal(f"{_dotted(loc.inline)} in {loc.file} is not a string")
                inner_docs = list(yaml.safe_load_all(inner))
                doc = inner_docs[loc.inline_document] if loc.inline_document < len(inner_docs) else None
            ops = _ops_for(index, action, loc, doc, repo)
        except (_Refusal, yaml.YAMLError) as exc:
            refused.append(
                EditRefused(action=index, kind=action.kind, reason=str(exc), file=loc.file, layout=loc.layout)
            )
            continue
        place = (loc.document, loc.inline) if loc.inline else (0, ())
        clash = _clash(ops, by_file.get(loc.file, (loc.layout, {}))[1].get(place, []))
        if clash:
            refused.append(
                EditRefused(action=index, kind=action.kind, reason=clash, file=loc.file, layout=loc.layout)
            )
            continue
        by_file.setdefault(loc.file, (loc.layout, {}))[1].setdefault(place, []).extend(ops)
    changes: list[FileChange] = []
    unchanged: list[FieldChange] = []
    for path, (layout, places) in by_file.items():
        try:
            change, same = _edit_places(path, layout, read(path) or "", places)
        except _Refusal as exc:
            kinds = {op.action: op.kind for ops in places.values() for op in ops}
            refused += [
                EditRefused(action=i, kind=kinds[i], reason=str(exc), file=path, layout=layout)
                for i in sorted(kinds)
            ]
            continue
        unchanged += same
        if change is not None:
            changes.append(change)
    return GitOpsEdit(changes=changes, unchanged=unchanged, refused=sorted(refused, key=lambda r: r.action))


def _edit_places(
    path: str, layout: str, text: str, places: dict[tuple[int, YamlPath], list[_Op]]
) -> tuple[FileChange | None, list[FieldChange]]:
    """One change of `path` for the ops of every place in it: the YAML of its block scalars
    first (each edited as a file of its own, then put back), then the file itself."""
    current = text
    fields: list[FieldChange] = []
    unchanged: list[FieldChange] = []
    method: Method = "round_trip"
    for (document, inline), ops in sorted(places.items(), key=lambda p: not p[0][1]):
        if inline:
            change, same = _edit_inline(path, layout, current, document, inline, ops)
        else:
            change, same = _edit_file(path, layout, current, ops)
        unchanged += same
        if change is not None:
            current = change.after
            fields += change.fields
            method = "line" if change.method == "line" else method
    if current == text:
        return None, unchanged
    change = FileChange(
        path=path,
        layout=layout,
        before=text,
        after=current,
        diff=unified_diff(path, text, current),
        description="; ".join(f.description for f in fields),
        fields=fields,
        method=method,
    )
    return change, unchanged


_BLOCK_HEADER = re.compile(r"^(\|-?)(?:[ \t]+#.*)?$")


def _edit_inline(
    path: str, layout: str, text: str, document: int, inline: YamlPath, ops: list[_Op]
) -> tuple[FileChange | None, list[FieldChange]]:
    """The edit of the YAML held by the literal block scalar at `inline` (`|` or `|-`): its text is
    edited like a file, then put back line for line in the scalar's indentation — the lines the
    edit did not change stay byte for byte — and the result must read as the original with only
    that scalar's text changed."""
    edit = _FileEdit(path, text)
    where = f"{_dotted(inline)} in {path}"
    parent, depth = _walk(edit.tree(document), inline[:-1], path)
    key = inline[-1]
    if depth != len(inline) - 1 or not isinstance(_get_plain(edit.docs[document], inline), str):
        raise _Refusal(f"{where} is not a string")
    line, col = parent.lc.item(key) if isinstance(key, int) else parent.lc.value(key)
    header_line = edit.chunks[document].start + line
    header = _BLOCK_HEADER.match(_body(edit.lines[header_line])[col:])
    if header is None:
        raise _Refusal(
            f"{where} is not a literal block scalar (| or |-), which is the only style medic edits"
        )
    start, stop = header_line + 1, edit.chunks[document].stop
    indent, end = -1, start
    for i in range(start, stop):
        if not edit.lines[i].strip():
            continue
        column = _indent_of(edit.lines[i])
        if indent < 0:
            indent = column
        if column < indent:
            break
        end = i + 1
    block = edit.lines[start:end]
    inner = "".join((_body(line)[indent:] if line.strip() else "") + "\n" for line in block)
    strip = header.group(1) == "|-"
    value = _get_plain(edit.docs[document], inline)
    if indent <= _indent_of(edit.lines[header_line]) or value != (inner[:-1] if strip else inner):
        raise _Refusal(f"{where} is a block scalar whose lines medic cannot tell apart")
    change, same = _edit_file(f"{path} {_dotted(inline)}", layout, inner, ops)
    same = [f.model_copy(update={"file": path}) for f in same]
    if change is None:
        return None, same
    old_lines, new_lines = _lines(inner), _lines(change.after)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag == "equal":
            out += block[a1:a2]
        else:
            out += [(" " * indent + _body(n) if n.strip() else "") + edit.newline for n in new_lines[b1:b2]]
    after = "".join(edit.lines[:start] + out + edit.lines[end:])
    if edit.missing_newline:
        after = after[: -len(edit.newline)]
    expected = copy.deepcopy(edit.docs)
    _set_plain(expected[document], inline, change.after[:-1] if strip else change.after)
    try:
        if list(yaml.safe_load_all(after)) != expected:
            raise _Refusal(f"editing {where} would change more than its text")
    except yaml.YAMLError as exc:
        raise _Refusal(f"editing {where} would make {path} invalid YAML") from exc
    fields = [f.model_copy(update={"file": path}) for f in change.fields]
    return (
        FileChange(
            path=path,
            layout=layout,
            before=text,
            after=after,
            diff=unified_diff(path, text, after),
            description=change.description,
            fields=fields,
            method=change.method,
        ),
        same,
    )


def _clash(new: list[_Op], earlier: list[_Op]) -> str:
    """Why `new` cannot join the ops of earlier actions on the same file: one field, two values
    (or the same value twice: the earlier action makes it already)."""
    for op in new:
        for other in earlier:
            if op.document != other.document or op.path != other.path:
                continue
            if op.append is not None and other.append is not None:
                if op.append.get("name") == other.append.get("name"):
                    return (
                        f"action {other.action} already adds the {_dotted(op.path)} entry {op.append['name']}"
                    )
            elif op.append is None and other.append is None and op.value == other.value:
                return f"action {other.action} already sets {_dotted(op.path)} to {op.value}"
            else:
                return (
                    f"action {other.action} sets {_dotted(op.path)} to {other.value}, this one to {op.value}"
                )
    return ""
