"""Redaction: secret-looking values are replaced by typed placeholders before text leaves the process.

Design rule 6 says secrets never leave: whatever medic reads from the cluster, from Git or from an
alert (logs, event messages, container state messages, labels, annotations, GitOps file contents,
Argo CD messages, alert labels and annotations) passes through this module before it reaches an
LLM prompt, a PR body, a notification or the store.

A secret becomes `[REDACTED:<kind>]`, where `<kind>` names what was found (`github_token`,
`database_password`, `private_key`, ... see `SECRET_KINDS`). The text around it stays readable:
`password=...` keeps its key name, a connection string keeps scheme, user, host, port and path
and loses only the password, an `Authorization` header keeps its scheme.

What the caller can rely on:

- `redact_text`, `redact_mapping`, `redact_json`, `redact_observation` and `redact_incident` are
  pure and deterministic, and idempotent: redacting twice gives the same result as once.
  Placeholders never match any pattern, so they are never redacted again (or re-typed).
- The observation and incident functions return new frozen models and leave the input as it was;
  ids, names, image references, quantities, revisions and numbers are untouched.

Detection has three layers, applied in this order:

1. Shapes that are secrets wherever they appear: PEM private keys (also JSON-escaped, also a tail
   whose BEGIN line was cut off by a log limit), vendor tokens with a fixed prefix (AWS, GitHub,
   GitLab, Slack, Stripe, Anthropic, OpenAI, SendGrid, Twilio, npm, Vault, Google, PyPI, Hugging
   Face, DigitalOcean), JWTs (Kubernetes service-account tokens are told apart by their issuer),
   Docker config blobs, Slack webhook URLs, Azure SAS signatures.
2. Places: credentials in a URL's user info (database schemes are typed as such), Go MySQL DSNs,
   `Cookie` / `Set-Cookie` headers written into a line (every cookie to the end of the line),
   `Authorization` headers and bare `Bearer` tokens, 32/40-hex API keys next to an API-key name.
3. Names: a value assigned to a secret-sounding name — `key=value`, `"key": "value"`,
   `key: value` (a YAML line keeps its whole value, a block scalar is collapsed), `--key value`
   (in an args list, `"--key", "value"`, the whole list item), Kubernetes env pairs
   `name: DB_PASSWORD` / `value: ...`, and the password short flags of clients that take one
   (`mysql -pX`, `sshpass -p X`, `redis-cli -a X`) on a line that names the client. Names are split into words
   (`dbPassword`, `DB_PASSWORD`, `db.password` alike) and judged by `secret_kind_for_key`.

The trade-off: prefer losing a little non-secret text to letting a secret through, but never
touch the values diagnosis depends on. Concretely:

- No pattern matches bare hex or UUIDs on their own, so image digests (`sha256:...`), commit SHAs,
  object uids, pod-template hashes and container ids survive; 32/40-hex strings are redacted only
  next to an API-key name. Resource quantities, timestamps and PromQL contain nothing that matches.
- A name is secret only as a whole word: `secretName`, `secretKeyRef`, `TOKEN_FILE`, `AUTH_URL`,
  `max_tokens`, `cache_key`, `public_key`, a bare `key` and a bare `pass` are not; `pwd` is not when
  its value is a path (the shell's working directory). Lossy on purpose: a plain `token:` or
  `secret:` in a log line loses the word after it even if it was "expired"; an unquoted YAML value
  of a secret name loses everything to the end of the line; a private key whose END line is
  missing is redacted to the end of the text; a kube-state-metrics label named `secret` loses the
  Secret's name.
- Weak names (`salt`, `signature`, `hmac`, `seed`, `cookie`, `session`, `license`, `nonce`,
  `encryption`) are redacted only when the value looks random (long, mixed, high Shannon entropy);
  booleans, empty values, `null` and references such as `${DB_PASSWORD}` or `{{ .Values.x }}` are
  kept under any name: they carry no secret and help a reader.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

__all__ = [
    "PLACEHOLDER_RE",
    "SECRET_KINDS",
    "placeholder",
    "redact_json",
    "redact_mapping",
    "redact_text",
    "secret_kind_for_key",
]


# Every kind this module can emit; placeholders are `[REDACTED:<kind>]`.
SECRET_KINDS: tuple[str, ...] = (
    # fixed-shape tokens
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "gcp_service_account_key",
    "private_key_id",
    "gcp_api_key",
    "gcp_client_secret",
    "azure_storage_account_key",
    "azure_shared_access_key",
    "azure_sas_token",
    "github_token",
    "github_fine_grained_token",
    "gitlab_token",
    "slack_token",
    "slack_webhook",
    "stripe_key",
    "anthropic_api_key",
    "openai_api_key",
    "sendgrid_api_key",
    "twilio_account_sid",
    "twilio_api_key",
    "twilio_auth_token",
    "npm_token",
    "pypi_token",
    "huggingface_token",
    "digitalocean_token",
    "vault_token",
    "datadog_api_key",
    "honeycomb_api_key",
    "jwt",
    "kubernetes_service_account_token",
    "docker_config_auth",
    "docker_config_json",
    "private_key",
    # places
    "bearer_token",
    "basic_auth_header",
    "authorization_header",
    "url_password",
    "database_password",
    # names
    "password",
    "secret",
    "client_secret",
    "token",
    "api_key",
    "secret_key",
    "credentials",
    "connection_string",
    "dsn",
    "cookie",
    "high_entropy_secret",
)


PLACEHOLDER_RE = re.compile(r"\[REDACTED:[a-z0-9_]+\]")


_PLACEHOLDER_ONLY = re.compile(r"\[REDACTED:[a-z0-9_]+\]\Z")


def placeholder(kind: str) -> str:
    """The text that replaces a secret of `kind`."""
    return f"[REDACTED:{kind}]"


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# A name whose last word is one of these names a secret's *reference*, not the secret itself.
_NON_SECRET_LAST = _set(
    """name names ref refs path paths file files dir directory url uri urls host hostname port
    endpoint enabled enable disabled required mode type kind ttl timeout expiry expires expiration
    expired length len size count version versions namespace provider policy rotation format
    algorithm alg header field env prefix suffix label selector mount volume vol source store
    manager issuer audience scope scopes template status age location stdin id ids arn"""
)


# Words before `key` that make it an ordinary key (`cache_key`, `public_key`, `routing_key`).
_ORDINARY_KEY_QUALIFIERS = _set(
    """cache sort partition primary foreign routing idempotency idem public object row shard dedup
    dedupe lookup index config metric label annotation group map hash field unique composite s3
    bucket item message event queue request trace span hotkey ssh_public"""
)


# Words before `token` that make it a counter or a cursor (`max_tokens`, `next_page_token`).
_ORDINARY_TOKEN_QUALIFIERS = _set(
    """page next continue continuation max min input output total prompt completion cache sync
    resume cancel cancellation pagination"""
)


# Redacted only when the value looks random.
_WEAK_WORDS = _set("salt hmac signature sig seed cookie session license licence nonce encryption signing")


_PASSWORD_WORDS = ("password", "passwd", "passphrase")


_EXACT_KEYS = {
    "auth": "docker_config_auth",
    "accountkey": "azure_storage_account_key",
    "sharedaccesskey": "azure_shared_access_key",
    "xhoneycombteam": "honeycomb_api_key",
    "dockerconfigjson": "docker_config_json",
    "dockercfg": "docker_config_json",
    "authorization": "authorization_header",
    "proxyauthorization": "authorization_header",
    "privatetoken": "gitlab_token",
    "xvaulttoken": "vault_token",
    "cookie": "cookie",
    "setcookie": "cookie",
}


_FALSE_VALUES = _set(
    "true false yes no on off null none nil ~ enabled disabled required optional <nil> *** ****"
)


_BLOCK_INDICATOR = re.compile(r"[|>][-+0-9]*")


_REFERENCE = re.compile(r"\$\{[^}]*\}|\$\([^)]*\)|\{\{.*\}\}|\$[A-Z_][A-Z0-9_]*", re.S)


def _words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", spaced)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _vendor(words: list[str], default: str) -> str:
    if "twilio" in words:
        return "twilio_auth_token"
    if "dd" in words or "datadog" in words:
        return "datadog_api_key"
    if "honeycomb" in words:
        return "honeycomb_api_key"
    if "sendgrid" in words:
        return "sendgrid_api_key"
    if "vault" in words and default == "token":
        return "vault_token"
    return default


@functools.lru_cache(maxsize=4096)
def _kind_of_name(key: str) -> tuple[str, bool] | None:
    """(kind, strong) for a secret-sounding name; weak kinds need a random-looking value."""
    compact = re.sub(r"[^a-z0-9]", "", key.lower())
    if compact in _EXACT_KEYS:
        return _EXACT_KEYS[compact], True
    words = _words(key)
    if not words:
        return None
    last = words[-1]
    # Key ids that identify a credential closely enough to hide.
    if words[-2:] == ["key", "id"] and len(words) >= 3:
        if words[-3] == "access":
            return "aws_access_key_id", True
        if words[-3] == "private":
            return "private_key_id", True
    if len(words) > 1 and last in _NON_SECRET_LAST:
        return None
    if "connectionstring" in compact or "connstr" in compact:
        return "connection_string", True
    if "secret" in words and "access" in words and "key" in words:
        return "aws_secret_access_key", True
    if "aws" in words and "session" in words and "token" in words:
        return "aws_session_token", True
    for i, word in enumerate(words):
        before = words[i - 1] if i else ""
        if word.rstrip("s").endswith(_PASSWORD_WORDS) or word == "pwd" or (word == "pass" and len(words) > 1):
            return "password", True
        if word in ("secret", "secrets") or (word.endswith("secret") and word != "secret"):
            if before == "client" or word == "clientsecret":
                return "client_secret", True
            return _vendor(words, "secret"), True
        if word == "token" or (word.endswith("token") and len(word) > 5):
            if before in _ORDINARY_TOKEN_QUALIFIERS:
                return None
            return _vendor(words, "token"), True
        if word == "apikey" or (word == "key" and before in ("api", "app", "application", "write")):
            return _vendor(words, "api_key"), True
        if word.endswith(("privatekey", "secretkey", "accesskey", "signingkey", "masterkey")):
            return "private_key" if word.endswith("privatekey") else "secret_key", True
        if word in ("key", "keys") and i > 0:
            if before in _ORDINARY_KEY_QUALIFIERS:
                return None
            if before in ("private", "tls", "ssl", "ssh", "pem", "rsa", "ec", "signing"):
                return "private_key", True
            return _vendor(words, "secret_key"), True
        if word in ("credential", "credentials", "creds") or word.endswith("credentials"):
            return "credentials", True
        if word == "dsn":
            return "dsn", True
    if "auth" in words and len(words) > 1:
        return "credentials", True
    if any(word in _WEAK_WORDS for word in words):
        return "high_entropy_secret", False
    return None


def _looks_random(value: str) -> bool:
    if len(value) < 16 or " " in value.strip():
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    return entropy >= 3.3 and classes >= 2


def _keep_value(value: str) -> bool:
    """Values that carry no secret under any name."""
    stripped = _unquote(value.strip()).strip()
    return (
        not stripped
        or stripped.lower() in _FALSE_VALUES
        or _PLACEHOLDER_ONLY.match(stripped) is not None
        or _REFERENCE.fullmatch(stripped) is not None
        or _BLOCK_INDICATOR.fullmatch(stripped) is not None
    )


def secret_kind_for_key(key: str, value: str = "") -> str | None:
    """The placeholder kind for `value` when it is assigned to `key`, or None when the name does
    not make the value a secret. Pass the value when known: weak names (`salt`, `signature`) only
    count with a random-looking value, and `pwd` holding a path is the working directory."""
    found = _kind_of_name(key)
    if found is None:
        return None
    kind, strong = found
    if _words(key) == ["pwd"] and value.strip().strip("\"'").startswith("/"):
        return None
    if not strong and not _looks_random(value.strip().strip("\"'")):
        return None
    return kind


_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _whole(kind: str) -> Callable[[re.Match[str]], str]:
    return lambda _m: placeholder(kind)


def _group(kind: str, name: str = "value") -> Callable[[re.Match[str]], str]:
    """Replace only the named group, keeping the rest of the match."""

    def replace(m: re.Match[str]) -> str:
        if _PLACEHOLDER_ONLY.match(m.group(name)):
            return m.group(0)
        start, end = m.start(name) - m.start(0), m.end(name) - m.start(0)
        whole = m.group(0)
        return whole[:start] + placeholder(kind) + whole[end:]

    return replace


def _jwt_kind(m: re.Match[str]) -> str:
    payload = m.group("payload")
    try:
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(decoded)
    except (binascii.Error, ValueError):
        return placeholder("jwt")
    text = json.dumps(claims) if isinstance(claims, dict) else ""
    if "kubernetes.io" in text or "kubernetes/serviceaccount" in text:
        return placeholder("kubernetes_service_account_token")
    return placeholder("jwt")


_PEM_END = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")


_PEM_BODY_LINE = re.compile(r"[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*\r?")


def _pem_tails(text: str) -> str:
    """The tail of a PEM key whose BEGIN line was cut off (a log read from its end): the END line
    and the base64 lines right above it. Walks back line by line, so it stays linear."""
    out: list[str] = []
    done = 0
    for end in _PEM_END.finditer(text):
        start = end.start()
        line_start = text.rfind("\n", done, start) + 1
        if text[line_start:start].strip():
            continue  # something other than the key precedes END on its line
        start = line_start
        while start > done:
            prev = text.rfind("\n", done, start - 1) + 1
            if prev < done or not _PEM_BODY_LINE.fullmatch(text, prev, start - 1):
                break
            start = prev
        if start == line_start:
            continue  # no body above: a lone END line carries no secret
        out.append(text[done:start])
        out.append(placeholder("private_key"))
        done = end.end()
    out.append(text[done:])
    return "".join(out)


_B = r"(?<![A-Za-z0-9_])"  # start of a token: no word character before


_E = r"(?![A-Za-z0-9_])"  # end of a token


_SHAPES: list[_Rule] = [
    # A GCP service-account key file's private key, JSON-escaped.
    (
        re.compile(
            r'(?P<head>"private_key"\s*:\s*")(?P<value>-----BEGIN [A-Z ]*PRIVATE KEY-----'
            r'(?:\\.|[^"\\])*?-----END [A-Z ]*PRIVATE KEY-----(?:\\n)?)"'
        ),
        _group("gcp_service_account_key"),
    ),
    # PEM private keys; without an END line (cut off) everything to the end of the text goes.
    (
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
        _whole("private_key"),
    ),
    (re.compile(_B + r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}" + _E), _whole("aws_access_key_id")),
    (re.compile(_B + r"github_pat_[A-Za-z0-9_]{22,255}"), _whole("github_fine_grained_token")),
    (re.compile(_B + r"gh[pousr]_[A-Za-z0-9]{36,255}" + _E), _whole("github_token")),
    (
        re.compile(_B + r"gl(?:pat|rt|dt|ptt|cbt|soat|ffct|imt|agent|oas|ft)-[A-Za-z0-9_-]{20,}"),
        _whole("gitlab_token"),
    ),
    (re.compile(_B + r"xox[abposre]-[A-Za-z0-9-]{10,}"), _whole("slack_token")),
    (re.compile(_B + r"xapp-\d-[A-Za-z0-9-]{10,}"), _whole("slack_token")),
    (
        re.compile(
            r"(?P<head>https://hooks\.slack\.com/(?:services|workflows|triggers)/)"
            r"(?P<value>[A-Za-z0-9/_-]{8,})"
        ),
        _group("slack_webhook"),
    ),
    (re.compile(_B + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}" + _E), _whole("stripe_key")),
    (re.compile(_B + r"whsec_[A-Za-z0-9+/=]{24,}"), _whole("stripe_key")),
    (re.compile(_B + r"sk-ant-[A-Za-z0-9_-]{20,}"), _whole("anthropic_api_key")),
    (re.compile(_B + r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}"), _whole("openai_api_key")),
    (re.compile(_B + r"sk-[A-Za-z0-9]{32,}" + _E), _whole("openai_api_key")),
    (re.compile(_B + r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}"), _whole("sendgrid_api_key")),
    (re.compile(_B + r"AC[0-9a-f]{32}" + _E), _whole("twilio_account_sid")),
    (re.compile(_B + r"SK[0-9a-f]{32}" + _E), _whole("twilio_api_key")),
    (re.compile(_B + r"npm_[A-Za-z0-9]{36}" + _E), _whole("npm_token")),
    (re.compile(_B + r"pypi-AgE[A-Za-z0-9_-]{50,}"), _whole("pypi_token")),
    (re.compile(_B + r"hf_[A-Za-z0-9]{30,}" + _E), _whole("huggingface_token")),
    (re.compile(_B + r"do[por]_v1_[a-f0-9]{64}" + _E), _whole("digitalocean_token")),
    (re.compile(_B + r"hv[sbr]\.[A-Za-z0-9_-]{20,}"), _whole("vault_token")),
    (re.compile(_B + r"AIza[0-9A-Za-z_-]{35}" + _E), _whole("gcp_api_key")),
    (re.compile(_B + r"GOCSPX-[A-Za-z0-9_-]{20,}"), _whole("gcp_client_secret")),
    # base64 of `{"auths":` — a whole .dockerconfigjson
    (re.compile(r"eyJhdXRocyI6[A-Za-z0-9+/=]+"), _whole("docker_config_json")),
    (
        re.compile(
            _B + r"eyJ[A-Za-z0-9_-]{8,}\.(?P<payload>eyJ[A-Za-z0-9_-]{8,})\.[A-Za-z0-9_-]*"
            r"(?![A-Za-z0-9_.-])"
        ),
        _jwt_kind,
    ),
    (re.compile(r"(?i)(?P<head>[?&;]sig=)(?P<value>[A-Za-z0-9%+/=]{16,})"), _group("azure_sas_token")),
]


_DB_SCHEMES = _set(
    """postgres postgresql mysql mariadb mongodb mongodb+srv redis rediss amqp amqps mssql sqlserver
    oracle cockroachdb clickhouse cassandra neo4j neo4j+s nats memcached couchdb influxdb"""
)


def _url_credentials(m: re.Match[str]) -> str:
    scheme = m.group("scheme")[:-3].lower()
    password = m.group("value")
    is_db = scheme in _DB_SCHEMES
    if _PLACEHOLDER_ONLY.match(password) or (not is_db and "/" in password):
        return m.group(0)
    return _group("database_password" if is_db else "url_password")(m)


_AUTH_SCHEMES = {"bearer": "bearer_token", "basic": "basic_auth_header", "token": "token"}


def _cookie_list(m: re.Match[str]) -> str:
    """`Cookie:[sessionid=...]` (Go's http.Header) or `"Cookie": ["sessionid=..."]`: the list's
    items become one placeholder."""
    items = m.group("value").strip()
    bare = items.strip("\"' ")
    if _keep_value(bare):
        return m.group(0)
    quote = items[0] if items[:1] in ('"', "'") else ""
    return m.group(0)[: m.start("value") - m.start(0)] + f"{quote}{placeholder('cookie')}{quote}]"


def _cookie_header(m: re.Match[str]) -> str:
    if _keep_value(m.group("value")):
        return m.group(0)
    head = m.group(0)[: m.start("value") - m.start(0)]
    # Quoted where it starts a line, so that a YAML line still reads it as one string; bare
    # inside a line, which may itself be a quoted string.
    line_start = m.string.rfind("\n", 0, m.start()) + 1
    at_line_start = not m.string[line_start : m.start()].strip(" \t-")
    value = f'"{placeholder("cookie")}"' if at_line_start and ":" in head else placeholder("cookie")
    return head + value


_PLACES: list[_Rule] = [
    # A `Cookie` or `Set-Cookie` header written into a line (`cookie: Cookie: sessionid=...`):
    # every cookie of it to the end of the line goes, attributes and all, since any of them may
    # be a session. A quoted value is left to the name rules below.
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9_-])(?:set-)?cookie[\"']?[ \t]*[:=][ \t]*"
            r"(?P<value>(?:(?:set-)?cookie[ \t]*:[ \t]*)?[^\s\"'|>\[{$][^\r\n\"']*?)"
            r"(?=[ \t]*(?:[\r\n\"']|\Z))"
        ),
        _cookie_header,
    ),
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9_-])(?:set-)?cookie[\"']?[ \t]*[:=][ \t]*\[(?!REDACTED:[a-z0-9_]+\])"
            r"(?P<value>(?:\[REDACTED:[a-z0-9_]+\]|[^\]\n])*)\]"
        ),
        _cookie_list,
    ),
    (
        re.compile(
            r"(?P<scheme>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://)[^\s:/?#@\[\]\"'<>]{0,256}:"
            r"(?P<value>[^\s?#\"'<>]{1,512})@"
        ),
        _url_credentials,
    ),
    # Go's MySQL driver: user:password@tcp(host:3306)/db
    (
        re.compile(r"(?<![\w/\[:.-])[A-Za-z0-9_.-]{1,128}:(?P<value>[^\s:@/\[\]]{1,256})@(?:tcp|unix|udp)\("),
        _group("database_password"),
    ),
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9-])(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*\[?[\"']?"
            r"(?:(?P<scheme>bearer|basic|token|digest|negotiate|ntlm|apikey|sso-key)[ \t]+)?"
            r"(?P<value>\[REDACTED:[a-z0-9_]+\]|[^\s\"',;\]]+)"
        ),
        lambda m: _group(_AUTH_SCHEMES.get((m.group("scheme") or "").lower(), "authorization_header"))(m),
    ),
    (
        re.compile(
            r"(?i)\bbearer[ \t]+(?P<value>[A-Za-z0-9._~+/-]{16,4096}=*|(?=[A-Za-z0-9._~+/-]{0,15}\d)"
            r"[A-Za-z0-9._~+/-]{8,15}=*)(?![A-Za-z0-9._~+/=-])"
        ),
        _group("bearer_token"),
    ),
    # 32- or 40-hex API keys right after an API-key name (Datadog, Honeycomb, and the like).
    (
        re.compile(
            r"(?i)(?P<name>\b(?:dd|datadog)[ _-]?(?:api|app|application)[ _-]?key|\bhoneycomb[ _-]?"
            r"(?:api[ _-]?)?key|\bx-honeycomb-team|\bapi[ _-]?key|\bapp[ _-]?key|\bwrite[ _-]?key)"
            r"[^A-Za-z0-9\n]{1,5}(?P<value>[0-9a-f]{40}|[0-9a-f]{32})(?![0-9A-Za-z])"
        ),
        lambda m: _group(_vendor(_words(m.group("name")), "api_key"))(m),
    ),
]


_KEY = r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}"


# `${DB_PASSWORD}`, `$(DB_PASSWORD)`, `{{ .Values.db.password }}`: references, kept.
_REF_VALUE = r"\$\{[^}\s]*\}|\$\([^)\s]*\)|\{\{[^}\n]*\}\}"


# An unquoted YAML value: words separated by blanks, ending before a ` #` comment.
_YAML_PLAIN = r"[^\s,}\]#\"'|>][^\s,}\]]*(?:[ \t]+(?!#)[^\s,}\]]+)*"


# Kubernetes env entries: `name: DB_PASSWORD` then `value: ...` (YAML, flow or JSON).
_ENV_PAIR = re.compile(
    r"\bname[\"']?[ \t]*[:=][ \t]*[\"']?(?P<key>" + _KEY + r")[\"']?[ \t]*"
    r"(?:,[ \t]*|\r?\n[ \t]*)[\"']?value[\"']?[ \t]*[:=][ \t]*"
)


_ENV_VALUE = re.compile(r"\"(?:[^\"\\\n]|\\.){0,4096}\"|'[^'\n]{0,4096}'|" + _REF_VALUE + "|" + _YAML_PLAIN)


_YAML_LINE = re.compile(
    r"^(?P<head>[ \t]*(?:-[ \t]+)?(?P<key>" + _KEY + r")[ \t]*:[ \t]+)"
    r"(?P<value>[^\s\"'{\[|>#&*!%@`][^\n]*?)(?P<tail>[ \t]+#[^\n]*)?[ \t]*$",
    re.M,
)


_YAML_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)(?:-[ \t]+)?(?P<key>" + _KEY + r")[ \t]*:[ \t]+[|>][-+0-9]*[ \t]*$"
)


# `key=value`, `"key": "value"`, `key: value`, `key => value`, and JSON escaped inside a string.
_KEY_VALUE = re.compile(
    r"(?<![A-Za-z0-9_.])(?P<key>" + _KEY + r")(?P<sep>\\?[\"']?[ \t]*(?:=>|:=|[:=])[ \t]*)"
)


_KV_VALUE = re.compile(
    r"\\\"(?:(?!\\\").){0,4096}?\\\"|\"(?:[^\"\\\n]|\\.){0,4096}\"|'[^'\n]{0,4096}'"
    r"|\[REDACTED:[a-z0-9_]+\]|"
    + _REF_VALUE
    # `&` and `,` end a value only where another name follows (a query string, a list).
    + r"|(?:[^\s,;&\"'<>{}()\[\]]|&(?!"
    + _KEY
    + r"=)|,(?![\s\[{\"']|"
    + _KEY
    + r"[:=]))+"
)


# `--password hunter2`, and `"--password", "hunter2"` in an args list.
_FLAG = re.compile(
    r"(?<![A-Za-z0-9-])--(?P<key>[A-Za-z][A-Za-z0-9_.-]{0,127})(?P<sep>\"?,[ \t]*\"|'?,[ \t]*'|[ \t]+)"
)


# A bare value, or a quoted one (`--db-password "two words"` inside a shell command).
_FLAG_VALUE = re.compile(
    r"\[REDACTED:[a-z0-9_]+\]|\"(?:[^\"\\\n]|\\.){1,4096}\"|'[^'\n]{1,4096}'|[^\s\"',\[\]\-][^\s\"',\]]*"
)


# `"--password", "two words"` in an args list: the value is the whole list item.
_FLAG_LISTED_DQ = re.compile(r"(?<![A-Za-z0-9-])--(?P<key>[A-Za-z][A-Za-z0-9_.-]{0,127})(?P<sep>\",[ \t]*\")")


_FLAG_LISTED_SQ = re.compile(r"(?<![A-Za-z0-9-])--(?P<key>[A-Za-z][A-Za-z0-9_.-]{0,127})(?P<sep>',[ \t]*')")


_LISTED_DQ_VALUE = re.compile(r"(?:[^\"\\\n]|\\.){1,4096}(?=\")")


_LISTED_SQ_VALUE = re.compile(r"[^'\n]{1,4096}(?=')")


# Clients whose short flag takes the password: `mysql -u root -pS3cret`, `mysqldump -p S3cret`,
# `sshpass -p S3cret ssh ...`, `redis-cli -a S3cret`. Only on a line that names the client: a bare
# `-p` is a port or a path elsewhere.
_SHORT_PASSWORD_CLIENT = re.compile(
    r"(?<![A-Za-z0-9_-])(?:(?P<p>mysql|mysqldump|mysqladmin|mysqlsh|mysqlimport|mysqlcheck|mariadb|"
    r"mariadb-dump|mariadb-admin|sshpass)|(?P<a>redis-cli|keydb-cli))(?![A-Za-z0-9_-])[^\n]*"
)


_SHORT_PASSWORD_FLAG = re.compile(
    r"(?<![A-Za-z0-9_-])-(?P<flag>[pa])(?P<sep>\"?,[ \t]*\"|'?,[ \t]*'|[ \t]+|)"
    r"(?P<value>\[REDACTED:[a-z0-9_]+\]|[^\s\"',\[\]\-][^\s\"',\]]*)"
)


def _short_password_flags(text: str) -> str:
    """The value of a password short flag (`-p`, redis-cli's `-a`) on a line naming its client."""
    if "-p" not in text and "-a" not in text:
        return text

    def line(client: re.Match[str]) -> str:
        flag = "p" if client.group("p") else "a"

        def value(m: re.Match[str]) -> str:
            if m.group("flag") != flag or _keep_value(m.group("value")):
                return m.group(0)
            return _group("password")(m)

        return _SHORT_PASSWORD_FLAG.sub(value, client.group(0))

    return _SHORT_PASSWORD_CLIENT.sub(line, text)


_QUOTES = ('\\"', '"', "'")


def _replace_value(value: str, kind: str, *, quote_bare: bool) -> str:
    for q in _QUOTES:
        if len(value) >= 2 * len(q) and value.startswith(q) and value.endswith(q):
            return q + placeholder(kind) + q
    return f'"{placeholder(kind)}"' if quote_bare else placeholder(kind)


def _unquote(value: str) -> str:
    for q in _QUOTES:
        if len(value) >= 2 * len(q) and value.startswith(q) and value.endswith(q):
            return value[len(q) : -len(q)]
    return value


def _value_kind(key: str, value: str) -> str | None:
    """The kind to redact `value` as when it is written after `key` in text, or None."""
    if _keep_value(value):
        return None
    kind = secret_kind_for_key(key, _unquote(value))
    if kind == "authorization_header" and (
        value.lower() in _AUTH_SCHEMES or PLACEHOLDER_RE.search(value) is not None
    ):
        return None  # the header rule has redacted what follows the scheme
    return kind


def _scan_named(
    head: re.Pattern[str],
    value_pattern: re.Pattern[str],
    text: str,
    quote_bare: Callable[[re.Match[str]], bool],
) -> str:
    """Redact the value after every `head` (a name and its separator) whose name makes it secret.

    The value is matched only after a secret-sounding name, and a name left alone does not consume
    its value — in `error: password=x` or `https://h/?token=x` the first name's value holds the
    second — so the scan stays linear in the length of the text.
    """
    out: list[str] = []
    start = pos = 0
    while (m := head.search(text, pos)) is not None:
        pos = m.end()
        if _kind_of_name(m.group("key")) is None:
            continue
        v = value_pattern.match(text, pos)
        if v is None or not v.group(0):
            continue
        kind = _value_kind(m.group("key"), v.group(0))
        if kind is None:
            continue
        out.append(text[start:pos])
        out.append(_replace_value(v.group(0), kind, quote_bare=quote_bare(m)))
        start = pos = v.end()
    out.append(text[start:])
    return "".join(out)


def _colon_separated(m: re.Match[str]) -> bool:
    # An unquoted value after `:` is quoted, so that YAML still reads it as one string.
    return ":" in m.group("sep") and ":=" not in m.group("sep")


def _yaml_blocks(text: str) -> str:
    """`password: |` followed by an indented block: the block becomes one placeholder line."""
    if "|" not in text and ">" not in text:
        return text
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        m = _YAML_BLOCK.match(line.rstrip("\r\n"))
        if m is None:
            continue
        indent = len(m.group("indent").expandtabs())
        j = i
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            j += 1
        while j > i and not lines[j - 1].strip():
            j -= 1  # trailing blank lines belong to what follows
        block = "".join(lines[i:j])
        kind = secret_kind_for_key(m.group("key"), block.strip())
        if kind is None or j == i or _PLACEHOLDER_ONLY.match(block.strip()):
            continue
        end = "\n" if block.endswith("\n") else ""
        first = lines[i]
        pad = first[: len(first) - len(first.lstrip())]
        out.append(f"{pad}{placeholder(kind)}{end}")
        i = j
    return "".join(out)


def _yaml_line(m: re.Match[str]) -> str:
    kind = _value_kind(m.group("key"), m.group("value"))
    if kind is None:
        return m.group(0)
    return m.group("head") + f'"{placeholder(kind)}"' + (m.group("tail") or "")


_MAX_PASSES = 8


# What `_may_hold_secret` looks for: each token and place rule of `_redact_once` matches only text
# that holds one of these, the literal part of its shape (`ghp_`, `AKIA`, `eyJ`, the dashes of a PEM
# line or a flag, `@` of a URL's user info or a DSN, a password client's name), or, for the
# case-insensitive rules, one of `_CASED_MARKS`. Grouped under a character every mark of the group
# holds, so that most texts pass a group with one test.
_MARKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "-",
        ("--", "sk-", "xapp-", "GOCSPX-", "pypi-AgE", "redis-cli", "keydb-cli", "glpat-", "glrt-", "gldt-")
        + ("glptt-", "glcbt-", "glsoat-", "glffct-", "glimt-", "glagent-", "gloas-", "glft-"),
    ),
    (
        "_",
        (
            "github_pat_",
            "ghp_",
            "gho_",
            "ghu_",
            "ghs_",
            "ghr_",
            "_live_",
            "_test_",
            "whsec_",
            "npm_",
            "hf_",
            "_v1_",
        ),
    ),
    (".", ("SG.", "hvs.", "hvb.", "hvr.", "hooks.slack.com/")),
    (
        "",
        ("@", "eyJ", "AKIA", "ASIA", "ABIA", "A3T", "AC", "SK", "xox", "AIza", "mysql", "mariadb", "sshpass"),
    ),
)
_CASED_MARKS = ("cookie", "authorization", "bearer", "sig=", "key", "x-honeycomb-team")
_API_KEY_MARKS = 4  # the marks from here on are the API-key rule's
_API_KEY_MIN_CHARS = len("apikey") + 1 + 32
# The same, for text that is not ASCII: `(?i)` also folds `K` (Kelvin), `ſ`, `İ` and `ı` onto ASCII
# letters, which `str.lower` does not.
_CASED_MARKS_RE = re.compile("(?i)" + "|".join(re.escape(mark) for mark in _CASED_MARKS))
# The head of `_ENV_PAIR`.
_ENV_NAME = re.compile(r"\bname[\"']?[ \t]*[:=]")


def _may_hold_secret(text: str) -> bool:
    """False only where no rule of `_redact_once` can change `text`, so that the pass would return
    it as it is: most alert labels, names, URLs and plain sentences, at a fraction of its cost.

    The name rules act only on a secret-sounding name, and every name they judge is one that
    `_KEY_VALUE` finds scanning the text from its start: `_scan_named` visits those heads in that
    order, and the name of a YAML line or block (`key: value`, `key: |`) has only blanks and a
    list dash before it on its line, so no earlier head overlaps it and `_KEY_VALUE` takes the
    same name there. Env pairs are judged by the name after `name:`, so `name:` itself counts."""
    if text.isascii() and text.isalnum() and text.islower():
        # Lower-case letters and digits only (`payments`, `b58c4386f2be6d41`): every token shape
        # holds a capital, a `_`, a `-` or a `.`, and every other rule punctuation or a blank.
        return False
    # Plain loops: this runs on every string of every notification, and `any()` over a generator
    # costs twice as much.
    for common, marks in _MARKS:
        if common in text:
            for mark in marks:
                if mark in text:
                    return True
    if not text.isascii():
        if _CASED_MARKS_RE.search(text):
            return True
    else:
        lowered = text.lower()
        for mark in _CASED_MARKS[:_API_KEY_MARKS]:
            if mark in lowered:
                return True
        # The API-key rule needs a name (`apikey` at the shortest), a separator and 32 hex digits.
        if len(text) >= _API_KEY_MIN_CHARS:
            for mark in _CASED_MARKS[_API_KEY_MARKS:]:
                if mark in lowered:
                    return True
    if "=" not in text and ":" not in text:
        return False
    if _ENV_NAME.search(text):
        return True
    return any(_kind_of_name(m.group("key")) is not None for m in _KEY_VALUE.finditer(text))


def _redact_once(text: str) -> str:
    for pattern, replace in _SHAPES:
        text = pattern.sub(replace, text)
    text = _pem_tails(text)
    for pattern, replace in _PLACES:
        text = pattern.sub(replace, text)
    text = _yaml_blocks(text)
    text = _scan_named(_ENV_PAIR, _ENV_VALUE, text, lambda _m: True)
    text = _YAML_LINE.sub(_yaml_line, text)
    text = _scan_named(_KEY_VALUE, _KV_VALUE, text, _colon_separated)
    text = _scan_named(_FLAG_LISTED_DQ, _LISTED_DQ_VALUE, text, lambda _m: False)
    text = _scan_named(_FLAG_LISTED_SQ, _LISTED_SQ_VALUE, text, lambda _m: False)
    text = _scan_named(_FLAG, _FLAG_VALUE, text, lambda _m: False)
    text = _short_password_flags(text)
    return text


# Texts found to hold nothing a rule could change, remembered across calls: notifications repeat
# their label names and values (`alertname`, `payments`, the summary of the same alert), so most
# strings of a notification have been judged before. Only that verdict is kept — a text that may
# hold a secret never is — and only for short texts, so the set holds nothing worth hiding and
# stays small; it is emptied when full.
_CLEAN: set[str] = set()
CLEAN_TEXTS_KEPT = 4096
CLEAN_TEXT_MAX_CHARS = 160


def redact_text(text: str) -> str:
    """`text` with every secret-looking value replaced by `[REDACTED:<kind>]`.

    Surrounding text is kept: key names, URL scheme/user/host/path, header schemes, line
    structure. Idempotent; placeholders are never rewritten.
    """
    if not text or text in _CLEAN:
        return text
    if not _may_hold_secret(text):
        if len(text) <= CLEAN_TEXT_MAX_CHARS:
            if len(_CLEAN) >= CLEAN_TEXTS_KEPT:
                _CLEAN.clear()
            _CLEAN.add(text)
        return text
    # A placeholder can give a glued neighbour the boundary it lacked (`AKIA...eyJhdXRocyI6...`),
    # so passes repeat until nothing changes; that is what makes the result idempotent. Each pass
    # only turns text into placeholders, so two passes are the rule and the bound is never met.
    for _ in range(_MAX_PASSES):
        redacted = _redact_once(text)
        if redacted == text:
            break
        text = redacted
    return text


def _redact_named(key: str, value: str) -> str:
    if _keep_value(value):
        return value
    kind = secret_kind_for_key(key, value)
    redacted = redact_text(value)
    if kind is None:
        return redacted
    # A value that is one recognised token keeps its more precise kind.
    if _PLACEHOLDER_ONLY.match(redacted.strip()):
        return redacted.strip()
    return placeholder(kind)


def redact_mapping(d: Mapping[str, str]) -> dict[str, str]:
    """Env, labels or annotations with secrets redacted.

    A value under a secret-sounding key (`DB_PASSWORD`, `api-key`, `tls.key`, `SENTRY_DSN`,
    `AWS_SECRET_ACCESS_KEY`, ...; see `secret_kind_for_key`) is replaced entirely, except empty
    values, booleans and `${...}`-style references; every other value goes through `redact_text`.
    Keys are kept as they are.
    """
    return {key: _redact_named(key, value) for key, value in d.items()}


def redact_json(value: Any, *, _kind: str | None = None) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with secrets redacted, for audit details,
    store rows and notifications. Strings under a secret-sounding key are replaced entirely (so are
    numbers there), other strings go through `redact_text`; `{"name": "DB_PASSWORD", "value": ...}`
    pairs are recognised. A pydantic model is dumped to JSON mode first. Tuples stay tuples."""
    # Keys and values repeat within one value (an alert's labels are also its group's common
    # labels): each distinct string is redacted once per call, and forgotten after it.
    return _redact_json(value, _kind, {})


def _redact_json(value: Any, kind: str | None, seen: dict[str, str]) -> Any:
    if isinstance(value, str):  # the most common, and never a model
        if kind is not None and not _keep_value(value):
            redacted = redact_text(value)
            return redacted.strip() if _PLACEHOLDER_ONLY.match(redacted.strip()) else placeholder(kind)
        return _redact_seen(value, seen)
    if isinstance(value, BaseModel):
        return _redact_json(value.model_dump(mode="json"), kind, seen)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return placeholder(kind) if kind is not None else value
    if isinstance(value, Mapping):
        pair_name = value.get("name", value.get("key"))
        pair_kind = secret_kind_for_key(pair_name) if isinstance(pair_name, str) else None
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                out[key] = _redact_json(item, kind, seen)
                continue
            item_kind = secret_kind_for_key(key, item if isinstance(item, str) else "") or kind
            if key == "value" and pair_kind is not None:
                item_kind = pair_kind
            out[_redact_seen(key, seen)] = _redact_json(item, item_kind, seen)
        return out
    if isinstance(value, list):
        return [_redact_json(item, kind, seen) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact_json(item, kind, seen) for item in value)
    return value


def _redact_seen(text: str, seen: dict[str, str]) -> str:
    redacted = seen.get(text)
    if redacted is None:
        redacted = seen[text] = redact_text(text)
    return redacted
