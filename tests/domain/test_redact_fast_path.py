"""The redactor's fast path: text that no rule can change skips the rules, and nothing else does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tests.domain.redaction_corpus as c
from domain.redaction import text as redaction
from domain.redaction.text import _may_hold_secret, _redact_once, redact_json, redact_text

# Pieces of what the rules look for, and of what they must leave alone, for hypothesis to glue
# together: names, separators, schemes, token prefixes, flags, line and block structure, and the
# non-ASCII letters that case-insensitive matching folds onto ASCII (Kelvin K, long s, dotted and
# dotless i).
FRAGMENTS = [
    *("password", "db_password", "DB_PASSWORD", "secret", "token", "api_key", "apiKey", "groupKey"),
    *("dsn", "pwd", "salt", "name", "value", "auth", "cookie", "Set-Cookie", "Authorization"),
    *("bearer ", "Bearer ", "sig=", "x-honeycomb-team", "datadog_api_key", "co\u212akie", "\u017fig="),
    *("authorİzation", "authorızation", "=", ":", ": ", "=>", ":=", '"', "'", "\\", ",", ";", "&", "?"),
    *(" ", "\t", "\n", "\r\n", "\x0b", "\u2028", "- ", "|", ">", "#", "[", "]", "{", "}", "(", ")"),
    *("--", "--password ", '"--token", "', "-p", "-a ", "mysql ", "redis-cli ", "sshpass "),
    *("://", "postgres://", "https://", "@", "@tcp(", "u:p@h", "hooks.slack.com/services/"),
    *("-----BEGIN PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "MIIEvQIBADANBgkqhkiG9w0BAQEF"),
    *("AKIA", "ASIA", "A3TX", "AC", "SK", "ghp_", "github_pat_", "glpat-", "xoxb-", "xapp-1-", "sk-"),
    *("sk_live_", "whsec_", "SG.", "npm_", "pypi-AgE", "hf_", "dop_v1_", "hvs.", "AIza", "GOCSPX-"),
    *("eyJ", "eyJhbGciOiJIUzI1NiJ9", ".", "_", "-", "0123456789abcdef0123456789abcdef", "ABCDEFGHJKLMNPQR"),
    *("a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV", "payments", "kube-state-metrics", "2026-11-23T18:55:28Z"),
    *("${DB_PASSWORD}", "{{ .Values.x }}", "true", "null", "[REDACTED:token]", "é", "日本"),
    # Whole matches of a rule each, so that a mark missing from the fast path shows.
    *("postgres://u:hunter2@db", "root:hunter2@tcp(db:3306)/x", "- name: DB_PASSWORD\n  value: hunter2"),
    *(
        "Authorİzation: Basic dXNlcjpwYXNz",
        "co\u212akie: sid=abc123",
        "apikey 0123456789abcdef0123456789abcdef",
    ),
    *(
        "password: |\n  hunter2\n",
        "mysql -u root -phunter2",
        "hvs.CAESIJ1234567890abcdefgh",
        "Bearer abcdefgh12345678",
    ),
]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12).map("".join))
def test_text_the_fast_path_lets_through_is_text_no_rule_changes(text: str) -> None:
    if not _may_hold_secret(text):
        assert _redact_once(text) == text


@pytest.mark.parametrize("planted", c.ALL, ids=lambda p: p.kind)
def test_every_planted_secret_a_rule_would_redact_takes_the_slow_path(planted: c.Planted) -> None:
    for text in (planted.secret, f"{planted.kind}: {planted.secret}", f"{planted.kind}={planted.secret}"):
        if _redact_once(text) != text:
            assert _may_hold_secret(text), text


@pytest.mark.parametrize(
    "text",
    [
        "payments",
        "b58c4386f2be6d41",
        "KubeContainerOOMKilled",
        "kube-state-metrics",
        "ledger-5c6b7d8f9-abcde",
        "Container ledger in pod payments/ledger-5c6b7d8f9-abcde was OOMKilled 3 times.",
        "2026-11-23T18:55:28Z",
        "http://prometheus.example:9090/graph?g0.expr=up",
        '{}:{alertname="KubeContainerOOMKilled", namespace="payments"}',
    ],
)
def test_ordinary_alert_text_skips_the_rules(text: str) -> None:
    # What makes a notification cheap to redact; the answer is the same either way.
    assert not _may_hold_secret(text)
    assert redact_text(text) == text


def test_a_value_repeated_in_one_json_value_is_redacted_alike_everywhere() -> None:
    secret = "ghp_" + c.fill("repeat", 36)
    redacted = redact_json(
        {"a": {"note": f"token {secret}"}, "b": [f"token {secret}", {"note": f"token {secret}"}]}
    )
    assert redacted == {
        "a": {"note": "token [REDACTED:github_token]"},
        "b": ["token [REDACTED:github_token]", {"note": "token [REDACTED:github_token]"}],
    }


@pytest.fixture
def clean() -> set[str]:
    """The texts remembered as clean, emptied around the test."""
    redaction._CLEAN.clear()
    yield redaction._CLEAN
    redaction._CLEAN.clear()


def test_a_clean_text_is_remembered_and_a_text_that_may_hold_a_secret_never_is(clean: set[str]) -> None:
    secret = "postgres://app:hunter2@db:5432/ledger"
    assert redact_text("payments") == "payments"
    assert redact_text(secret) == "postgres://app:[REDACTED:database_password]@db:5432/ledger"
    # A text with nothing to redact that only looks like it might (a mark, no secret) is not kept either.
    assert redact_text("--verbose") == "--verbose"
    assert clean == {"payments"}
    assert redact_text(secret) == "postgres://app:[REDACTED:database_password]@db:5432/ledger"
    assert secret not in clean


def test_a_long_clean_text_is_not_kept(clean: set[str]) -> None:
    long = "x " * redaction.CLEAN_TEXT_MAX_CHARS
    assert redact_text(long) == long
    assert not clean


def test_the_remembered_texts_are_bounded(monkeypatch: pytest.MonkeyPatch, clean: set[str]) -> None:
    monkeypatch.setattr(redaction, "CLEAN_TEXTS_KEPT", 3)
    for text in ("alpha", "beta", "gamma", "delta"):
        redact_text(text)
    assert clean == {"delta"}


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6).map("".join), max_size=8))
def test_remembering_changes_no_answer(texts: list[str]) -> None:
    # Each text twice, in any order of first sight: the second answer is the first.
    first = [redact_text(t) for t in texts]
    assert [redact_text(t) for t in texts] == first
    for text, redacted in zip(texts, first, strict=True):
        if text in redaction._CLEAN:
            assert redacted == text and not _may_hold_secret(text)
