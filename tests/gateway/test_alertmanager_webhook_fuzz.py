"""Issue 12, findings 3 and 4, as a property: whatever body reaches POST /alerts/alertmanager, the
answer is never a 5xx while Temporal is up, and every 4xx says why in one line.

Over 10,000 generated bodies (derandomized, so every run sends the same ones) against the real
FastAPI app, with a Temporal stand-in that refuses a payload over the server's size limit as the
server does: the captured Alertmanager payloads valid and mutated (wrong types, missing and extra
fields), deep nesting, lone surrogates escaped and raw, invalid UTF-8 and other encodings, huge
strings and huge alert counts.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.settings import Settings
from gateway.app import create_app
from tests.conftest import alertmanager_fixture
from tests.gateway.fake_temporal import FakeAlertTemporal

TOKEN = "fuzz-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
FIXTURES = (
    "oomkilled-firing.json",
    "crashloop-firing.json",
    "crashloop-firing-repeat.json",
    "crashloop-resolved.json",
)
LIMIT = 1024 * 1024

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@cache
def temporal() -> FakeAlertTemporal:
    return FakeAlertTemporal()


@cache
def app() -> FastAPI:
    return create_app(Settings(webhook_token=TOKEN, webhook_max_body_bytes=LIMIT), temporal().factory)


@cache
def fixtures() -> tuple[dict[str, Any], ...]:
    return tuple(alertmanager_fixture(name) for name in FIXTURES)


@cache
def loop() -> asyncio.Runner:
    """One event loop for every example, so the gateway's worker threads are reused."""
    return asyncio.Runner()


@cache
def http() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://gateway")


def answer(body: bytes) -> httpx.Response:
    """Posts `body` and checks the property: no 5xx, and a 4xx carries a one-line reason."""
    response = loop().run(http().post("/alerts/alertmanager", content=body, headers=HEADERS))
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        reason = response.json()["error"]
        assert reason and "\n" not in reason, response.text[:300]
        assert "Temporal refused" not in reason, reason  # a payload the gateway let grow too big
    else:
        assert response.json()["workflow_ids"], response.text[:300]
    return response


# --- bodies ---------------------------------------------------------------------------------

# Text including what JSON may carry but UTF-8 may not: lone surrogates (category Cs).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
)
# Two levels are enough for wrong types anywhere; deep nesting has a test of its own.
json_values = st.one_of(
    scalars, st.lists(scalars, max_size=3), st.dictionaries(any_text, scalars, max_size=3)
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value` (dict keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths(item, (*prefix, i))
    return found


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


@cache
def fixture_paths() -> tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...]:
    """Each captured payload as JSON text, with every path inside it."""
    return tuple((json.dumps(doc), tuple(paths(doc)[1:])) for doc in fixtures())


@st.composite
def mutated_payloads(draw: st.DrawFn) -> Any:
    """A captured payload with a few edits: a value replaced (wrong type or odd text), a field
    removed, a field added."""
    text, targets = draw(st.sampled_from(fixture_paths()))
    doc = json.loads(text)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(targets))
        edit = draw(st.sampled_from(["replace", "delete", "add", "text"]))
        try:
            parent = _parent(doc, path)
            if edit == "replace":
                parent[path[-1]] = draw(json_values)
            elif edit == "text":
                parent[path[-1]] = draw(any_text)
            elif edit == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(any_text)] = draw(json_values)
            else:
                parent.append(draw(json_values))
        except (KeyError, IndexError, TypeError, AttributeError):
            continue  # an earlier edit removed or replaced this path
    return doc


def encode(doc: Any, how: str) -> bytes:
    """`doc` as JSON: lone surrogates escaped (ascii), or written as raw bytes (surrogatepass)."""
    if how == "ascii":
        return json.dumps(doc).encode()
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


encodings = st.sampled_from(["ascii", "raw"])


@pytest.fixture(scope="module", autouse=True)
def _close_loop() -> Iterator[None]:
    yield
    if http.cache_info().currsize:
        loop().run(http().aclose())
    if loop.cache_info().currsize:
        loop().close()


def _check_all(strategy: st.SearchStrategy[bytes], examples: int) -> Callable[[], None]:
    """A check of `examples` bodies from `strategy`; it fails unless that many were really posted."""
    posted: list[bytes] = []

    @settings(FUZZ, max_examples=examples)
    @given(strategy)
    def run(body: bytes) -> None:
        posted.append(body[:0])
        answer(body)

    def check() -> None:
        run()
        assert len(posted) >= examples, f"only {len(posted)} bodies were generated"

    return check


# --- the properties --------------------------------------------------------------------------


def test_valid_and_mutated_payloads_are_never_5xx() -> None:
    _check_all(st.builds(encode, mutated_payloads(), encodings), 3000)()


def test_byte_level_damage_is_never_5xx() -> None:
    @st.composite
    def damaged(draw: st.DrawFn) -> bytes:
        body = bytearray(draw(st.sampled_from(fixture_paths()))[0].encode())
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(body)))
            edit = draw(st.sampled_from(["insert", "delete", "truncate"]))
            if edit == "insert":
                body[at:at] = draw(st.binary(min_size=1, max_size=4))
            elif edit == "delete":
                del body[at : at + draw(st.integers(1, 8))]
            else:
                del body[at:]
        return bytes(body)

    _check_all(damaged(), 3300)()


def test_other_encodings_and_arbitrary_bytes_are_never_5xx() -> None:
    @st.composite
    def encoded(draw: st.DrawFn) -> bytes:
        text = json.dumps(draw(mutated_payloads()), ensure_ascii=False)
        codec = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "utf-8-sig", "cp1252"]))
        return text.encode(codec, "replace")

    _check_all(st.one_of(encoded(), st.binary(max_size=200)), 1300)()


def test_deep_nesting_anywhere_is_never_5xx() -> None:
    @st.composite
    def nested(draw: st.DrawFn) -> bytes:
        doc = draw(mutated_payloads())
        path = draw(st.sampled_from(paths(doc)))
        depth = draw(st.integers(1, 3000))
        opening, closing = draw(st.sampled_from([("[", "]"), ('{"k":', "}")]))
        marker = "__DEEP__"
        if path:
            _parent(doc, path)[path[-1]] = marker
        else:
            doc = marker
        return encode(doc, "ascii").replace(
            json.dumps(marker).encode(), (opening * depth + "1" + closing * depth).encode(), 1
        )

    _check_all(nested(), 1000)()


def test_surrogates_in_every_field_are_never_5xx() -> None:
    @st.composite
    def with_surrogates(draw: st.DrawFn) -> bytes:
        doc = draw(mutated_payloads())
        strings = [p for p in paths(doc) if p and isinstance(_parent(doc, p)[p[-1]], str)]
        if strings:
            path = draw(st.sampled_from(strings))
            lone = chr(draw(st.integers(0xD800, 0xDFFF)))
            parent = _parent(doc, path)
            if draw(st.booleans()) and isinstance(parent, dict):
                parent[path[-1] + lone] = parent.pop(path[-1])  # in a key
            else:
                parent[path[-1]] += lone
        return encode(doc, draw(encodings))

    _check_all(with_surrogates(), 1300)()


def test_huge_strings_and_alert_counts_are_never_5xx() -> None:
    @st.composite
    def huge(draw: st.DrawFn) -> bytes:
        doc = copy.deepcopy(draw(st.sampled_from(fixtures())))
        alert = doc["alerts"][0]
        if draw(st.booleans()):
            size = draw(st.integers(1, LIMIT + 4096))
            text = draw(st.sampled_from(["x", "é", "🔥", "\\", '"', "password=hunter2 ", "\x00"])) * size
            field = draw(st.sampled_from(["annotations", "labels"]))
            alert[field][draw(st.sampled_from(["description", "pod", "k" * 300]))] = text[:size]
        else:
            count = draw(st.integers(1, 3000))
            doc["alerts"] = [dict(alert, fingerprint=f"{i:016x}") for i in range(count)]
        return encode(doc, "ascii")

    _check_all(huge(), 100)()
