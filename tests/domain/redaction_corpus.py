"""Fake secrets for the redaction tests, one per kind, built at import time.

None of these is a real credential: the bodies are derived from a hash of a label, so no complete
token is ever written in the source (and none trips a push-protection scanner), yet every one has
the exact shape of the real thing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"


def fill(label: str, length: int, alphabet: str = ALNUM) -> str:
    """`length` characters of `alphabet`, the same for the same label on every run."""
    out: list[str] = []
    counter = 0
    while len(out) < length:
        digest = hashlib.sha256(f"{label}/{counter}".encode()).digest()
        out.extend(alphabet[b % len(alphabet)] for b in digest)
        counter += 1
    return "".join(out[:length])


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def pem(kind: str, label: str, lines: int = 6) -> tuple[str, list[str]]:
    """A PEM block with a fake body, and its body lines (the needles to look for)."""
    body = [fill(f"{label}/{i}", 64, B64) for i in range(lines)]
    head = f"-----BEGIN {kind}PRIVATE KEY-----"
    tail = f"-----END {kind}PRIVATE KEY-----"
    return "\n".join([head, *body, tail]), body


@dataclass(frozen=True)
class Planted:
    kind: str  # the placeholder kind expected to replace it
    secret: str  # what must not survive redaction
    needles: tuple[str, ...] = ()  # distinctive parts to search for (default: the secret itself)

    @property
    def search(self) -> tuple[str, ...]:
        return self.needles or (self.secret,)


def _jwt(claims: dict[str, object], label: str) -> str:
    header = b64url({"alg": "RS256", "kid": fill(label + "/kid", 12)})
    return f"{header}.{b64url(claims)}.{fill(label + '/sig', 86, ALNUM + '-_')}"


AWS_ACCESS_KEY_ID = Planted("aws_access_key_id", "AKIA" + fill("aws-id", 16, UPPER_DIGITS))
AWS_SECRET = Planted("aws_secret_access_key", fill("aws-secret", 40, B64))
GITHUB_PAT_CLASSIC = Planted("github_token", "gh" + "p_" + fill("ghp", 36))
GITHUB_OAUTH = Planted("github_token", "gh" + "o_" + fill("gho", 36))
GITHUB_APP = Planted("github_token", "gh" + "s_" + fill("ghs", 36))
GITHUB_FINE_GRAINED = Planted(
    "github_fine_grained_token", "github" + "_pat_" + fill("pat-a", 22) + "_" + fill("pat-b", 59)
)
GITLAB = Planted("gitlab_token", "gl" + "pat-" + fill("glpat", 20))
SLACK_BOT = Planted(
    "slack_token",
    "xo" + "xb-" + fill("slk1", 12, HEX[:10]) + "-" + fill("slk2", 13, HEX[:10]) + "-" + fill("slk3", 24),
)
SLACK_WEBHOOK_PATH = (
    "T" + fill("wh1", 8, UPPER_DIGITS) + "/B" + fill("wh2", 8, UPPER_DIGITS) + "/" + fill("wh3", 24)
)
SLACK_WEBHOOK = Planted("slack_webhook", SLACK_WEBHOOK_PATH)
STRIPE_LIVE = Planted("stripe_key", "sk" + "_live_" + fill("stripe", 24))
STRIPE_RESTRICTED = Planted("stripe_key", "rk" + "_live_" + fill("stripe-rk", 24))
ANTHROPIC = Planted("anthropic_api_key", "sk-" + "ant-api03-" + fill("ant", 93, ALNUM + "-_") + "AA")
OPENAI_PROJECT = Planted("openai_api_key", "sk-" + "proj-" + fill("oai-proj", 48, ALNUM + "-_"))
OPENAI_LEGACY = Planted("openai_api_key", "sk-" + fill("oai", 48))
SENDGRID = Planted(
    "sendgrid_api_key", "SG" + "." + fill("sg1", 22, ALNUM + "-_") + "." + fill("sg2", 43, ALNUM + "-_")
)
TWILIO_SID = Planted("twilio_account_sid", "AC" + fill("tw-ac", 32, HEX))
TWILIO_KEY = Planted("twilio_api_key", "SK" + fill("tw-sk", 32, HEX))
TWILIO_AUTH = Planted("twilio_auth_token", fill("tw-auth", 32, HEX))
NPM = Planted("npm_token", "np" + "m_" + fill("npm", 36))
VAULT = Planted("vault_token", "hv" + "s." + fill("vault", 90, ALNUM + "_-"))
DATADOG = Planted("datadog_api_key", fill("dd", 32, HEX))
HONEYCOMB = Planted("honeycomb_api_key", fill("honeycomb", 32, HEX))
GCP_API = Planted("gcp_api_key", "AI" + "za" + fill("gapi", 35, ALNUM + "-_"))
JWT_GENERIC = Planted("jwt", _jwt({"sub": "user-4411", "scope": "orders:write", "exp": 1795000000}, "jwt"))
K8S_SA_TOKEN = Planted(
    "kubernetes_service_account_token",
    _jwt(
        {
            "iss": "https://kubernetes.default.svc.cluster.local",
            "kubernetes.io": {"namespace": "shop", "serviceaccount": {"name": "checkout"}},
            "sub": "system:serviceaccount:shop:checkout",
        },
        "k8s",
    ),
)
BEARER = Planted("bearer_token", fill("bearer", 40, ALNUM + "-._"))
BASIC_HEADER = Planted(
    "basic_auth_header", base64.b64encode(b"svc-reports:" + fill("basic", 18).encode()).decode()
)
URL_PASSWORD = Planted("url_password", fill("url-pw", 20))
POSTGRES_PASSWORD = Planted("database_password", "Pg" + fill("pg", 18) + "!x")
MYSQL_PASSWORD = Planted("database_password", "My" + fill("my", 18))
MONGO_PASSWORD = Planted("database_password", "Mo" + fill("mongo", 18))
REDIS_PASSWORD = Planted("database_password", "Re" + fill("redis", 18))
AMQP_PASSWORD = Planted("database_password", "Am" + fill("amqp", 18))
AZURE_ACCOUNT_KEY = Planted("azure_storage_account_key", fill("azure", 86, B64) + "==")
AZURE_SAS_SIG = Planted("azure_sas_token", fill("sas", 40, ALNUM) + "%3D")
RSA_PEM, RSA_BODY = pem("RSA ", "rsa")
EC_PEM, EC_BODY = pem("EC ", "ec", 3)
OPENSSH_PEM, OPENSSH_BODY = pem("OPENSSH ", "openssh", 5)
PKCS8_PEM, PKCS8_BODY = pem("", "pkcs8", 4)
PRIVATE_KEY_RSA = Planted("private_key", RSA_PEM, tuple(RSA_BODY))
PRIVATE_KEY_EC = Planted("private_key", EC_PEM, tuple(EC_BODY))
PRIVATE_KEY_OPENSSH = Planted("private_key", OPENSSH_PEM, tuple(OPENSSH_BODY))
GCP_PEM, GCP_BODY = pem("", "gcp-sa", 5)
GCP_SERVICE_ACCOUNT = Planted("gcp_service_account_key", GCP_PEM, tuple(GCP_BODY))
GCP_KEY_ID = Planted("private_key_id", fill("gcp-kid", 40, HEX))
PASSWORD_KV = Planted("password", "Tr0ub4dor&" + fill("pw-kv", 10))
PASSWORD_ENV = Planted("password", fill("pw-env", 24))
PASSWORD_YAML = Planted("password", "correct horse " + fill("pw-yaml", 12))
SECRET_KV = Planted("secret", fill("secret-kv", 28))
CLIENT_SECRET = Planted("client_secret", fill("client-secret", 34))
TOKEN_JSON = Planted("token", fill("token-json", 30))
API_KEY = Planted("api_key", fill("apikey", 28))
DOCKER_AUTH = Planted(
    "docker_config_auth", base64.b64encode(b"robot$ci:" + fill("docker", 24).encode()).decode()
)
DOCKER_CONFIG_JSON = Planted(
    "docker_config_json",
    base64.b64encode(
        json.dumps({"auths": {"registry.example": {"auth": fill("dcj", 32, B64)}}}).encode()
    ).decode(),
)
HIGH_ENTROPY = Planted("high_entropy_secret", fill("salt", 32, ALNUM + "+/"))
SENTRY_DSN = Planted("dsn", "https://" + fill("sentry", 32, HEX) + "@o4411.ingest.example/77")
MSSQL_PASSWORD = fill("mssql", 16)
CONNECTION_STRING = Planted(
    "connection_string",
    f"Server=sql.internal;Database=orders;User Id=svc;Password={MSSQL_PASSWORD};",
    (MSSQL_PASSWORD,),
)
ENV_PAIR = Planted("token", fill("env-pair", 26))
TLS_BLOCK_LINES = tuple(fill(f"tls-block/{i}", 48, B64) for i in range(3))
TLS_KEY_BLOCK = Planted("private_key", "\n".join(TLS_BLOCK_LINES), TLS_BLOCK_LINES)

ALL: tuple[Planted, ...] = tuple(v for k, v in sorted(globals().items()) if isinstance(v, Planted))
