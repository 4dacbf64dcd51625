"""Redaction: planted secrets never survive, ordinary cluster data does, and twice equals once."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.drift.model import DriftPageResult
from domain.incident.alerts import Alert, AlertGroup
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import (
    ArgoApplication,
    ContainerSpec,
    ContainerState,
    EventItem,
    GitOpsFile,
    LogExcerpt,
    MetricSeries,
    Observation,
    PodState,
    Revision,
    Workload,
)
from domain.redaction.objects import redact_dry_run, redact_incident, redact_observation, redact_step_result
from domain.redaction.text import (
    PLACEHOLDER_RE,
    SECRET_KINDS,
    placeholder,
    redact_json,
    redact_mapping,
    redact_text,
    secret_kind_for_key,
)
from domain.steps.change import DryRunResult
from domain.steps.gitops import ApplicationCheck, ApplicationStatus
from domain.steps.sync import SyncProgress
from tests.domain import redaction_corpus as c

REF = ResourceRef(namespace="shop", kind="Deployment", name="checkout")
STARTS = datetime(2026, 11, 23, 18, 53, 34, tzinfo=UTC)
NEVER = datetime(1, 1, 1, tzinfo=UTC)

# --- the planted corpus ------------------------------------------------------------------------

LOG_TEXT = f"""\
2026-11-23T18:49:40.233Z INFO  checkout 1.14.0 starting
2026-11-23T18:49:40.301Z DEBUG aws: using key {c.AWS_ACCESS_KEY_ID.secret}
2026-11-23T18:49:40.302Z DEBUG aws_secret_access_key = {c.AWS_SECRET.secret}
2026-11-23T18:49:40.410Z DEBUG git clone https://x-access-token:{c.GITHUB_APP.secret}@github.com/acme/shop
2026-11-23T18:49:40.500Z DEBUG payments client sk={c.STRIPE_LIVE.secret}
2026-11-23T18:49:41.004Z DEBUG -> POST /v1/messages x-api-key: {c.ANTHROPIC.secret}
2026-11-23T18:49:41.110Z DEBUG openai fallback key {c.OPENAI_PROJECT.secret} legacy {c.OPENAI_LEGACY.secret}
2026-11-23T18:49:41.200Z DEBUG request headers: Authorization: Bearer {c.BEARER.secret}
2026-11-23T18:49:41.250Z DEBUG upstream auth header "Authorization: Basic {c.BASIC_HEADER.secret}"
2026-11-23T18:49:41.300Z INFO  connecting to postgres://ledger:{c.POSTGRES_PASSWORD.secret}@db.shop.svc:5432/ledger?sslmode=require
2026-11-23T18:49:41.301Z INFO  cache at redis://:{c.REDIS_PASSWORD.secret}@redis.shop.svc:6379/0
2026-11-23T18:49:41.302Z INFO  bus at amqp://shop:{c.AMQP_PASSWORD.secret}@rabbitmq.shop.svc:5672/orders
2026-11-23T18:49:41.303Z INFO  orders db ledger:{c.MYSQL_PASSWORD.secret}@tcp(mysql.shop.svc:3306)/orders
2026-11-23T18:49:41.400Z WARN  login failed for user=svc password={c.PASSWORD_KV.secret} attempts=3
2026-11-23T18:49:41.500Z DEBUG service account token {c.K8S_SA_TOKEN.secret}
2026-11-23T18:49:41.600Z DEBUG vault login ok, token={c.VAULT.secret}
2026-11-23T18:49:41.700Z DEBUG export upload https://acme.blob.core.windows.net/exports/r.pdf?sv=2022-11-02&ss=b&sp=rw&se=2026-12-01T00:00:00Z&sig={c.AZURE_SAS_SIG.secret}
2026-11-23T18:49:41.800Z ERROR loaded signing key:
{c.PRIVATE_KEY_RSA.secret}
2026-11-23T18:49:41.900Z DEBUG {{"client_id": "shop-api", "client_secret": "{c.CLIENT_SECRET.secret}",
  "token": "{c.TOKEN_JSON.secret}"}}
2026-11-23T18:49:42.000Z DEBUG twilio account {c.TWILIO_SID.secret} key {c.TWILIO_KEY.secret}
2026-11-23T18:49:42.100Z DEBUG sendgrid {c.SENDGRID.secret} npm {c.NPM.secret}
2026-11-23T18:49:42.200Z DEBUG maps apikey={c.API_KEY.secret} google={c.GCP_API.secret}
2026-11-23T18:49:42.300Z DEBUG otel exporter X-Honeycomb-Team: {c.HONEYCOMB.secret}
2026-11-23T18:49:42.400Z DEBUG session signing_salt={c.HIGH_ENTROPY.secret}
2026-11-23T18:49:42.500Z DEBUG cookie secret: {c.SECRET_KV.secret}
"""

GITOPS_VALUES = f"""\
image:
  repository: registry.example/shop/checkout
  tag: 1.14.0
resources:
  limits: {{cpu: "2", memory: 512Mi}}
database:
  password: {c.PASSWORD_YAML.secret}  # rotated quarterly
env:
  - name: LOG_LEVEL
    value: info
  - name: INTERNAL_API_TOKEN
    value: {c.ENV_PAIR.secret}
  - name: DATABASE_PASSWORD
    valueFrom:
      secretKeyRef: {{name: checkout-db, key: password}}
tls:
  tls.key: |
{chr(10).join("    " + line for line in c.TLS_BLOCK_LINES)}
  tls.crt: cert.pem
gitlab:
  token: {c.GITLAB.secret}
"""

GCP_KEY_FILE = json.dumps(
    {
        "type": "service_account",
        "project_id": "acme-prod",
        "private_key_id": c.GCP_KEY_ID.secret,
        "private_key": c.GCP_SERVICE_ACCOUNT.secret + "\n",
        "client_email": "checkout@acme-prod.iam.gserviceaccount.com",
    },
    indent=2,
)

DOCKER_SECRET = f"""\
apiVersion: v1
kind: Secret
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: {c.DOCKER_CONFIG_JSON.secret}
stringData:
  config.json: '{{"auths": {{"registry.example": {{"auth": "{c.DOCKER_AUTH.secret}"}}}}}}'
  ssh-privatekey: |
{chr(10).join("    " + line for line in c.OPENSSH_PEM.splitlines())}
"""

LAST_APPLIED = json.dumps(
    {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "checkout",
                            "image": "registry.example/shop/checkout:1.14.0",
                            "env": [
                                {"name": "DB_PASSWORD", "value": c.PASSWORD_ENV.secret},
                                {"name": "LOG_LEVEL", "value": "info"},
                            ],
                        }
                    ]
                }
            }
        }
    }
)


def _planted_observation() -> Observation:
    return Observation(
        incident_id="incident-alert-redaction",
        workloads=[
            Workload(
                id="workload/shop/Deployment/checkout",
                ref=REF,
                containers=[ContainerSpec(name="checkout", image="registry.example/shop/checkout:1.14.0")],
                labels={"app.kubernetes.io/name": "checkout", "vault-token": c.VAULT.secret[:60]},
                annotations={
                    "kubectl.kubernetes.io/last-applied-configuration": LAST_APPLIED,
                    "shop.example.com/deploy-notes": f"deployed by ci with {c.GITHUB_PAT_CLASSIC.secret}",
                    "shop.example.com/signing-key": c.PRIVATE_KEY_EC.secret,
                    "shop.example.com/storage": (
                        "DefaultEndpointsProtocol=https;AccountName=acmeexports;"
                        f"AccountKey={c.AZURE_ACCOUNT_KEY.secret};EndpointSuffix=core.windows.net"
                    ),
                },
            )
        ],
        pods=[
            PodState(
                id="pod/shop/checkout-7d9f8b6c5-x2x9z",
                name="checkout-7d9f8b6c5-x2x9z",
                namespace="shop",
                containers=[
                    ContainerState(
                        name="checkout",
                        state="waiting",
                        state_reason="CreateContainerConfigError",
                        state_message=f"invalid env: GITHUB_TOKEN={c.GITHUB_OAUTH.secret} is not a url",
                    )
                ],
            )
        ],
        events=[
            EventItem(
                id="event/shop/checkout.1",
                namespace="shop",
                object_kind="Pod",
                object_name="checkout-7d9f8b6c5-x2x9z",
                reason="Unhealthy",
                type="Warning",
                message=f"Readiness probe failed: GET /ready?access_token={c.JWT_GENERIC.secret} 401",
            ),
            EventItem(
                id="event/shop/checkout.2",
                namespace="shop",
                object_kind="Pod",
                object_name="checkout-7d9f8b6c5-x2x9z",
                reason="Failed",
                type="Warning",
                message=f"Error: failed to post to slack: token {c.SLACK_BOT.secret} revoked",
            ),
        ],
        logs=[
            LogExcerpt(
                id="log/shop/checkout-7d9f8b6c5-x2x9z/checkout", pod="p", container="checkout", text=LOG_TEXT
            )
        ],
        argocd=[
            ArgoApplication(
                id="argocd/argocd/shop-checkout",
                name="shop-checkout",
                health_status="Degraded",
                health_message=f"hook failed: curl -H 'DD-API-KEY: {c.DATADOG.secret}' exited 22",
                revision="3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
                sources=[
                    {
                        "repoURL": f"https://deploy:{c.URL_PASSWORD.secret}@git.example.com/acme/gitops.git",
                        "path": "apps/shop/checkout",
                        "targetRevision": "main",
                        "helm": {
                            "parameters": [
                                {"name": "stripe.restrictedKey", "value": c.STRIPE_RESTRICTED.secret},
                                {"name": "image.tag", "value": "1.14.0"},
                            ]
                        },
                    }
                ],
            )
        ],
        gitops_files=[
            GitOpsFile(
                id="gitops/apps/shop/checkout/values.yaml",
                path="apps/shop/checkout/values.yaml",
                content=GITOPS_VALUES,
            ),
            GitOpsFile(
                id="gitops/apps/shop/checkout/gcp-key.json",
                path="apps/shop/checkout/gcp-key.json",
                content=GCP_KEY_FILE,
            ),
            GitOpsFile(
                id="gitops/apps/shop/checkout/pull-secret.yaml",
                path="apps/shop/checkout/pull-secret.yaml",
                content=DOCKER_SECRET,
            ),
        ],
        notes=[
            f"mongo at mongodb+srv://shop:{c.MONGO_PASSWORD.secret}@cluster0.example.net/shop was unreachable"
        ],
    )


def _alert(annotations: dict[str, str], labels: dict[str, str] | None = None) -> Alert:
    return Alert(
        status="firing",
        labels={"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "checkout-7d9f8b6c5-x2x9z"}
        | (labels or {}),
        annotations=annotations,
        startsAt=STARTS,
        endsAt=NEVER,
        generatorURL="http://prometheus.example:9090/graph?g0.expr=up",
        fingerprint="8c49d01d74bbdc0a",
    )


def _planted_incident() -> Incident:
    alert = _alert(
        {
            "summary": "Pod is crash looping.",
            "description": (
                f"notify via https://hooks.slack.com/services/{c.SLACK_WEBHOOK.secret}"
                f" with {c.GITHUB_FINE_GRAINED.secret}"
            ),
        },
        {"twilio_auth_token": c.TWILIO_AUTH.secret},
    )
    group = AlertGroup(
        version="4",
        groupKey='{}:{alertname="KubePodCrashLooping", namespace="shop"}',
        status="firing",
        receiver="medic",
        groupLabels={"alertname": "KubePodCrashLooping", "namespace": "shop"},
        commonLabels={"alertname": "KubePodCrashLooping", "namespace": "shop"},
        commonAnnotations={
            "runbook_url": "https://runbooks.example/kubepodcrashlooping",
            "sentry_dsn": c.SENTRY_DSN.secret,
            "ConnectionStrings__Orders": c.CONNECTION_STRING.secret,
        },
        alerts=[alert],
    )
    return Incident(
        id="incident-alert-redaction",
        title=f"checkout down ({c.GITHUB_PAT_CLASSIC.secret})",
        alerts=[alert],
        group=group,
        targets=[REF],
    )


def _dump(obs: Observation, incident: Incident) -> str:
    return obs.model_dump_json() + incident.model_dump_json()


def test_corpus_plants_at_least_twenty_four_kinds() -> None:
    assert len({p.kind for p in c.ALL}) >= 24
    assert all(p.kind in SECRET_KINDS for p in c.ALL)


def test_every_planted_secret_is_present_before_redaction() -> None:
    # Guards the other tests: a needle that was never planted would prove nothing.
    before = _dump(_planted_observation(), _planted_incident())
    missing = [p.kind for p in c.ALL for needle in p.search if needle not in before]
    assert missing == []


def test_no_planted_secret_survives_redaction_of_observation_and_incident() -> None:
    after = _dump(redact_observation(_planted_observation()), redact_incident(_planted_incident()))
    leaked = [(p.kind, needle[:12]) for p in c.ALL for needle in p.search if needle in after]
    assert leaked == []


def test_every_planted_kind_leaves_its_own_placeholder() -> None:
    after = _dump(redact_observation(_planted_observation()), redact_incident(_planted_incident()))
    found = set(PLACEHOLDER_RE.findall(after))
    missing = sorted({p.kind for p in c.ALL} - {m[len("[REDACTED:") : -1] for m in found})
    assert missing == []


def test_redaction_keeps_ids_and_structure_of_the_observation() -> None:
    obs = _planted_observation()
    redacted = redact_observation(obs)
    assert redacted.item_ids() == obs.item_ids()
    assert redacted.workloads[0].containers == obs.workloads[0].containers
    assert redacted.argocd[0].revision == obs.argocd[0].revision
    assert obs.logs[0].text == LOG_TEXT  # the input model is not modified


def test_redacted_text_keeps_key_names_hosts_and_header_schemes() -> None:
    text = redact_observation(_planted_observation()).logs[0].text
    assert "password=[REDACTED:password] attempts=3" in text
    assert "postgres://ledger:[REDACTED:database_password]@db.shop.svc:5432/ledger?sslmode=require" in text
    assert "Authorization: Bearer [REDACTED:bearer_token]" in text
    assert "2026-11-23T18:49:42.500Z DEBUG cookie" in text  # the line after the PEM key survives


def test_redacted_helm_values_still_parse_as_yaml() -> None:
    yaml = pytest.importorskip("yaml")
    content = redact_observation(_planted_observation()).gitops_files[0].content
    values = yaml.safe_load(content)
    assert values["database"]["password"] == "[REDACTED:password]"
    assert values["env"][1]["value"] == "[REDACTED:token]"
    assert values["image"]["tag"] == "1.14.0"
    assert values["env"][2]["valueFrom"]["secretKeyRef"] == {"name": "checkout-db", "key": "password"}


def test_redact_mapping_replaces_secret_keys_whole_and_scans_the_rest() -> None:
    env = {
        "DB_PASSWORD": "hunter2-but-longer",
        "AWS_SECRET_ACCESS_KEY": c.AWS_SECRET.secret,
        "GITHUB_TOKEN": c.GITHUB_PAT_CLASSIC.secret,
        "TWILIO_AUTH_TOKEN": c.TWILIO_AUTH.secret,
        "DD_API_KEY": c.DATADOG.secret,
        "SENTRY_DSN": c.SENTRY_DSN.secret,
        "DATABASE_URL": f"postgres://app:{c.POSTGRES_PASSWORD.secret}@db:5432/app",
        "LOG_LEVEL": "debug",
        "PWD": "/srv/app",
        "TOKEN_FILE": "/var/run/secrets/tokens/api",
        "AUTH_ENABLED": "true",
        "DB_PASSWORD_FROM": "${DB_PASSWORD}",
    }
    assert redact_mapping(env) == {
        "DB_PASSWORD": "[REDACTED:password]",
        "AWS_SECRET_ACCESS_KEY": "[REDACTED:aws_secret_access_key]",
        "GITHUB_TOKEN": "[REDACTED:github_token]",
        "TWILIO_AUTH_TOKEN": "[REDACTED:twilio_auth_token]",
        "DD_API_KEY": "[REDACTED:datadog_api_key]",
        "SENTRY_DSN": "[REDACTED:dsn]",
        "DATABASE_URL": "postgres://app:[REDACTED:database_password]@db:5432/app",
        "LOG_LEVEL": "debug",
        "PWD": "/srv/app",
        "TOKEN_FILE": "/var/run/secrets/tokens/api",
        "AUTH_ENABLED": "true",
        "DB_PASSWORD_FROM": "${DB_PASSWORD}",
    }


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("DB_PASSWORD", "password"),
        ("dbPassword", "password"),
        ("db.password", "password"),
        ("SMTP_PASS", "password"),
        ("client_secret", "client_secret"),
        ("clientSecret", "client_secret"),
        ("X-Api-Key", "api_key"),
        ("apikey", "api_key"),
        ("tls.key", "private_key"),
        ("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
        ("SecretAccessKey", "aws_secret_access_key"),
        ("GOOGLE_APPLICATION_CREDENTIALS_JSON", "credentials"),
        (".dockerconfigjson", "docker_config_json"),
        ("ENCRYPTION_KEY", "secret_key"),
        ("secretName", None),
        ("secretKeyRef", None),
        ("TOKEN_PATH", None),
        ("max_tokens", None),
        ("next_page_token", None),
        ("cache_key", None),
        ("public_key", None),
        ("key", None),
        ("pod-template-hash", None),
        ("app.kubernetes.io/name", None),
    ],
)
def test_secret_kind_for_key_judges_whole_words(key: str, kind: str | None) -> None:
    assert secret_kind_for_key(key, "aB3dE5fG7hJ9kL1mN3pQ") == kind


def test_weak_names_need_a_random_looking_value() -> None:
    assert redact_text("signature=ok") == "signature=ok"
    assert redact_text(f"signature={c.HIGH_ENTROPY.secret}") == "signature=[REDACTED:high_entropy_secret]"


def test_redact_json_walks_nested_audit_details() -> None:
    details: dict[str, Any] = {
        "step": "execute",
        "plan_hash": "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        "output": [f"pushed with {c.GITLAB.secret}", {"password": 123456, "replicas": 3}],
        "credentials": {"token": c.TOKEN_JSON.secret, "user": "medic"},
        "env": ({"name": "API_TOKEN", "value": c.ENV_PAIR.secret}, {"name": "LOG_LEVEL", "value": "info"}),
        "dry_run": True,
        "note": None,
    }
    assert redact_json(details) == {
        "step": "execute",
        "plan_hash": "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        "output": ["pushed with [REDACTED:gitlab_token]", {"password": "[REDACTED:password]", "replicas": 3}],
        "credentials": {"token": "[REDACTED:token]", "user": "[REDACTED:credentials]"},
        "env": ({"name": "API_TOKEN", "value": "[REDACTED:token]"}, {"name": "LOG_LEVEL", "value": "info"}),
        "dry_run": True,
        "note": None,
    }


def test_redact_json_accepts_a_pydantic_model() -> None:
    redacted = redact_json(_planted_incident())
    text = json.dumps(redacted)
    assert c.SLACK_WEBHOOK.secret not in text
    assert redacted["id"] == "incident-alert-redaction"


# --- what must survive -------------------------------------------------------------------------

ORDINARY_LOG = """\
2026-11-23T18:49:31.402Z INFO  renderer 3.7.4 listening on :8080 (chromium 131.0.6778.85)
2026-11-23T18:53:02.118Z INFO  job=rpt-88140 template=monthly-ledger pages=388 rendering
2026-11-23T18:53:31.871Z WARN  job=rpt-88140 rss 471Mi/512Mi at page 301/388
panic: config: required key "payments.idempotency.ttl" is not set
level=info msg="cache miss" cache_key=user:4411 next_page_token=2 max_tokens=4096 token_count=512
level=error msg="token expired for session" user=svc-reports
Error: secret "checkout-db" not found
bearer of bad news; Bearer authentication is required
commit 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39 deployed to https://checkout.shop.example/healthz
"""

ORDINARY_VALUES = """\
image:
  repository: registry.example/shop/checkout
  tag: 1.14.0
  digest: sha256:4a41e82333e6b89fc7bf36e89990dec9f6417bcc3557376b32bb4e1fbdf4d1f8
resources:
  requests: {cpu: 500m, memory: 384Mi}
  limits: {cpu: "2", memory: 1.5Gi, ephemeral-storage: 2G}
env:
  - name: DATABASE_PASSWORD
    valueFrom:
      secretKeyRef: {name: checkout-db, key: password}
  - name: DATABASE_HOST
    value: db.shop.svc
  - name: API_TOKEN
    value: ${API_TOKEN}
volumes:
  - name: tls
    secret: {secretName: checkout-tls}
targetRevision: 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39
"""

PROMQL = (
    'sum by (pod) (rate(container_cpu_cfs_throttled_periods_total{namespace="shop",'
    'pod=~"checkout-.*",container!=""}[5m])) / sum by (pod) (rate(container_cpu_cfs_periods_total[5m]))'
)


def _ordinary_observation() -> Observation:
    uid = "2f7be105-0f8a-416a-8c4c-707c6375dfc0"
    return Observation(
        incident_id="incident-alert-ordinary",
        workloads=[
            Workload(
                id="workload/shop/Deployment/checkout",
                ref=REF,
                revision=12,
                containers=[
                    ContainerSpec(
                        name="checkout",
                        image="registry.example/shop/checkout@sha256:4a41e82333e6b89fc7bf36e89990dec9f6417bcc3557376b32bb4e1fbdf4d1f8",
                        requests={"cpu": "500m", "memory": "384Mi"},
                        limits={"cpu": "2", "memory": "512Mi"},
                    )
                ],
                labels={"app.kubernetes.io/name": "checkout", "pod-template-hash": "7d9f8b6c5"},
                annotations={
                    "deployment.kubernetes.io/revision": "12",
                    "argocd.argoproj.io/tracking-id": "shop-checkout:apps/Deployment:shop/checkout",
                    "kubectl.kubernetes.io/restartedAt": "2026-11-23T18:31:19Z",
                    "checksum/config": "4a41e82333e6b89fc7bf36e89990dec9f6417bcc3557376b32bb4e1fbdf4d1f8",
                    "shop.example.com/owner-uid": uid,
                },
            )
        ],
        revisions=[Revision(id="revision/shop/checkout-7d9f8b6c5", name="checkout-7d9f8b6c5", revision=12)],
        pods=[
            PodState(
                id="pod/shop/checkout-7d9f8b6c5-x2x9z",
                name="checkout-7d9f8b6c5-x2x9z",
                namespace="shop",
                containers=[
                    ContainerState(
                        name="checkout",
                        image="registry.example/shop/checkout:1.14.0",
                        state="waiting",
                        state_reason="CrashLoopBackOff",
                        state_message=(
                            "back-off 5m0s restarting failed container=checkout"
                            f" pod=checkout-7d9f8b6c5-x2x9z_shop({uid})"
                        ),
                        last_state_reason="OOMKilled",
                        last_exit_code=137,
                    )
                ],
            )
        ],
        events=[
            EventItem(
                id="event/default/node.1",
                namespace="default",
                object_kind="Node",
                object_name="ip-10-40-7-19.us-east-2.compute.internal",
                reason="OOMKilling",
                message=(
                    "Memory cgroup out of memory: Killed process 23514 (chrome) total-vm:34087652kB, "
                    "anon-rss:498212kB, UID:1000 pgtables:2388kB oom_score_adj:984"
                ),
                last_seen="2026-11-23T18:51:20Z",
            ),
            EventItem(
                id="event/shop/pull.1",
                namespace="shop",
                object_kind="Pod",
                object_name="checkout-7d9f8b6c5-x2x9z",
                reason="Failed",
                message=(
                    'Failed to pull image "registry.example/shop/checkout:1.14.1": rpc error: '
                    "code = NotFound desc = failed to resolve reference "
                    '"registry.example/shop/checkout:1.14.1": not found'
                ),
            ),
            EventItem(
                id="event/shop/mount.1",
                namespace="shop",
                object_kind="Pod",
                object_name="checkout-7d9f8b6c5-x2x9z",
                reason="FailedMount",
                message='MountVolume.SetUp failed for volume "secret-vol" : secret "checkout-tls" not found',
            ),
        ],
        logs=[
            LogExcerpt(
                id="log/shop/checkout-7d9f8b6c5-x2x9z/checkout",
                pod="p",
                container="checkout",
                text=ORDINARY_LOG,
            )
        ],
        argocd=[
            ArgoApplication(
                id="argocd/argocd/shop-checkout",
                name="shop-checkout",
                sync_status="Synced",
                health_status="Degraded",
                health_message='Deployment "checkout" exceeded its progress deadline',
                revision="3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
                sources=[
                    {
                        "repoURL": "https://git.example.com/acme/gitops.git",
                        "path": "apps/shop/checkout",
                        "targetRevision": "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
                        "helm": {
                            "valueFiles": ["values.yaml"],
                            "parameters": [{"name": "image.tag", "value": "1.14.0"}],
                        },
                    }
                ],
                resources=[
                    {
                        "kind": "Deployment",
                        "namespace": "shop",
                        "name": "checkout",
                        "health": {"status": "Degraded"},
                    }
                ],
            )
        ],
        metrics=[
            MetricSeries(
                id="metric/cpu_throttling/shop/checkout",
                name="cpu_throttling",
                query=PROMQL,
                samples=[(1795000000.0, 0.42)],
            )
        ],
        gitops_files=[
            GitOpsFile(
                id="gitops/apps/shop/checkout/values.yaml",
                path="apps/shop/checkout/values.yaml",
                revision="3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
                content=ORDINARY_VALUES,
                role="helm_values",
            )
        ],
        alert_targets=[REF],
        notes=["pod shop/checkout-7d9f8b6c5-abcde was not found (it may have been replaced)"],
    )


def test_ordinary_cluster_data_survives_unchanged() -> None:
    obs = _ordinary_observation()
    assert redact_observation(obs) == obs


def test_ordinary_alert_survives_unchanged() -> None:
    alert = _alert(
        {
            "description": (
                "Pod shop/checkout-7d9f8b6c5-x2x9z (checkout) is in waiting state "
                '(reason: "CrashLoopBackOff").'
            ),
            "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
            "summary": "Pod is crash looping.",
        },
        {
            "container": "checkout",
            "job": "kube-state-metrics",
            "severity": "warning",
            "uid": "bc229ac7-8e1a-43c9-b6dc-7f6711788a0e",
        },
    )
    incident = Incident(
        id="incident-alert-ordinary",
        title="Pod is crash looping. (shop)",
        alerts=[alert],
        targets=[REF],
        created_at=STARTS,
    )
    assert redact_incident(incident) == incident


@pytest.mark.parametrize(
    "text",
    [
        "registry.example/shop/checkout@sha256:4a41e82333e6b89fc7bf36e89990dec9f6417bcc3557376b32bb4e1fbdf4d1f8",
        "ghcr.io/acme/checkout:v1.14.0-rc.1",
        "cpu: 500m memory: 1.5Gi ephemeral-storage: 2G",
        "uid: 2f7be105-0f8a-416a-8c4c-707c6375dfc0",
        "revision: 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        "containerID: containerd://6af050104b1a9104d2930475e28e3cd1351833113f632e2ccbbe1f095d98cb49",
        PROMQL,
        "histogram_quantile(0.99, sum by (le) "
        '(rate(http_request_duration_seconds_bucket{job="checkout"}[5m])))',
        "2026-11-23T18:53:34.123456+00:00 lastTimestamp=2026-11-23T18:53:30Z",
        "http://prometheus.example:9090/graph?g0.expr=up&g0.tab=1",
        "https://user@git.example.com/acme/gitops.git",
    ],
)
def test_non_secret_values_are_not_redacted(text: str) -> None:
    assert redact_text(text) == text


# --- idempotence -------------------------------------------------------------------------------


def test_redacting_twice_equals_redacting_once() -> None:
    obs, incident = redact_observation(_planted_observation()), redact_incident(_planted_incident())
    assert redact_observation(obs) == obs
    assert redact_incident(incident) == incident


def test_secrets_glued_together_are_redacted_idempotently() -> None:
    # Pieces butted against each other: a placeholder from one rule gives its neighbour the
    # boundary it lacked, which a single pass would leave for the second call to find.
    rng = random.Random(7)
    pieces = [p.secret for p in c.ALL] + [
        "password", "token", "=", ": ", " ", "\n", '"', "&", ",", "--", "://", "@", "Bearer ",
        "Authorization: ", "name: X_TOKEN\n  value: ", "|\n  ", "-----END RSA PRIVATE KEY-----",
        "[REDACTED:x]", "{", "}", "${", "postgres://u:", "sig=", "?", '\\"', "x", "_", "-", ".",
    ]  # fmt: skip
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        once = redact_text(text)
        assert redact_text(once) == once, text


@pytest.mark.parametrize("planted", c.ALL, ids=lambda p: p.kind)
def test_each_secret_in_any_setting_is_redacted_idempotently(planted: c.Planted) -> None:
    secret = planted.secret
    for text in (
        secret,
        f"x {secret} y",
        f"password={secret}",
        f'{{"secret": "{secret}"}}',
        f"token: {secret}",
        f"- name: API_TOKEN\n  value: {secret}",
    ):
        once = redact_text(text)
        assert redact_text(once) == once
        assert redact_mapping({"API_TOKEN": text}) == {
            "API_TOKEN": placeholder("token")
        } or PLACEHOLDER_RE.fullmatch(redact_mapping({"API_TOKEN": text})["API_TOKEN"])


@pytest.mark.parametrize("kind", SECRET_KINDS)
def test_placeholders_are_never_redacted_again(kind: str) -> None:
    for text in (
        placeholder(kind),
        f"password={placeholder(kind)}",
        f'"token": "{placeholder(kind)}"',
        f"password: {placeholder(kind)}",
        f"--token {placeholder(kind)}",
        f"postgres://u:{placeholder(kind)}@db/x",
        f"Authorization: Bearer {placeholder(kind)}",
    ):
        assert redact_text(text) == text


# --- shapes of text that need care -------------------------------------------------------------


def test_private_key_tail_without_its_begin_line_is_redacted() -> None:
    # A log read from its end can start in the middle of a key.
    tail = "\n".join(c.RSA_BODY[3:]) + "\n-----END RSA PRIVATE KEY-----\nnext line"
    assert redact_text(tail) == "[REDACTED:private_key]\nnext line"


def test_json_escaped_inside_a_log_string_is_redacted() -> None:
    line = 'msg="{\\"password\\":\\"' + c.PASSWORD_ENV.secret + '\\",\\"user\\":\\"svc\\"}"'
    assert redact_text(line) == 'msg="{\\"password\\":\\"[REDACTED:password]\\",\\"user\\":\\"svc\\"}"'
    token_line = 'msg="{\\"password\\":\\"' + c.GITHUB_PAT_CLASSIC.secret + '\\"}"'
    once = redact_text(token_line)
    assert once == 'msg="{\\"password\\":\\"[REDACTED:github_token]\\"}"'
    assert redact_text(once) == once


def test_flag_values_in_an_args_list_are_redacted() -> None:
    args = '["--db-password", "' + c.PASSWORD_ENV.secret + '", "--port", "5432"]'
    assert redact_text(args) == '["--db-password", "[REDACTED:password]", "--port", "5432"]'


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "text",
    [
        "a=" * 50_000,
        "a://" * 25_000,
        "-" * 100_000,
        "password: " + "a " * 50_000,
        "name: DB_PASSWORD, value: " * 4_000,
    ],
    ids=["assignments", "schemes", "dashes", "long-value", "env-pairs"],
)
def test_hostile_text_is_redacted_in_linear_time(text: str) -> None:
    # Logs are attacker-controlled; a quadratic pattern here would stall the observe step.
    redact_text(text)


# --- issue 12, finding 1: leaks found by the red team, written as the attack -------------------


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("2026-11-23T18:53:34Z INFO headers cookie: Cookie: sessionid=s3ss10nVal", "s3ss10nVal"),
        ("level=info cookie: Cookie: sessionid=s3ss10nVal other=1", "s3ss10nVal"),
        ("cookie: Cookie: sessionid=s3ss10nVal", "s3ss10nVal"),
        ('{"msg": "got cookie: Cookie: sessionid=s3ss10nVal"}', "s3ss10nVal"),
        ("INFO Set-Cookie: sid=s3ss10nVal; Path=/; HttpOnly", "s3ss10nVal"),
        ("Set-Cookie: sid=s3ss10nVal; Path=/", "s3ss10nVal"),
        ("msg Cookie: theme=dark; sessionid=s3ss10nVal", "s3ss10nVal"),
        ("http: request headers map[Accept:[*/*] Cookie:[sessionid=s3ss10nVal]]", "s3ss10nVal"),
        ('request headers={"Cookie": ["sessionid=s3ss10nVal"]}', "s3ss10nVal"),
        ("http: request headers map[Authorization:[Basic dXNlcjpCYXNpY1Bhc3M=]]", "dXNlcjpCYXNpY1Bhc3M="),
        ("proxy said: Authorization: Basic dXNlcjpCYXNpY1Bhc3M=", "dXNlcjpCYXNpY1Bhc3M="),
        ("upstream header Authorization: Bearer abc.Def-123456789xyz", "abc.Def-123456789xyz"),
    ],
)
def test_header_shaped_line_inside_a_value_loses_its_secret(line: str, secret: str) -> None:
    redacted = redact_text(line)
    assert secret not in redacted
    assert redact_text(redacted) == redacted


def test_a_header_line_keeps_the_rest_of_the_log() -> None:
    redacted = redact_text("GET /cart 200\ncookie: Cookie: sessionid=s3ss10nVal\nGET /pay 500")
    assert redacted == 'GET /cart 200\ncookie: "[REDACTED:cookie]"\nGET /pay 500'


@pytest.mark.parametrize(
    ("change", "secret"),
    [
        ("container app args: ['--port', '80'] → ['--db-password', 'ArgsFlagPass55']", "ArgsFlagPass55"),
        ("container app args: None → ['--db-password ArgsFlagPass55']", "ArgsFlagPass55"),
        ("container app args: [] → ['--token=TokFlag1234']", "TokFlag1234"),
        ("container app args: [] → ['--db-password', 'Two Words55']", "Words55"),
        ("pod initContainers: [{'command': ['sh', '-c', 'migrate --db-password \"Quoted55\"']}]", "Quoted55"),
        ("migrate --db-password 'Single Quoted55' --verbose", "Quoted55"),
        ('container app command: ["app", "--db-password", "Quoted Pass55"]', "Pass55"),
        ("container app command: ['sh', '-c', 'mysql -u root -pShortFlag55 shop']", "ShortFlag55"),
        ("container app command: ['mysqldump', '-u', 'root', '-p', 'ShortFlag55']", "ShortFlag55"),
        ("container app command: ['sshpass', '-p', 'ShortFlag55', 'ssh', 'backup']", "ShortFlag55"),
        ("container app command: ['redis-cli', '-a', 'ShortFlag55', 'ping']", "ShortFlag55"),
    ],
)
def test_revision_change_line_loses_flag_values(change: str, secret: str) -> None:
    redacted = redact_text(change)
    assert secret not in redacted
    assert redact_text(redacted) == redacted


@pytest.mark.parametrize(
    "line", ["docker run -p 8080:80 shop", "cat -p notes.txt", "mysql -P 3306 -u root -p"]
)
def test_a_short_p_flag_is_kept_where_it_is_not_a_password(line: str) -> None:
    assert redact_text(line) == line


def test_revision_changes_are_redacted_in_an_observation() -> None:
    revision = Revision(
        id="revision/shop/checkout-2",
        name="checkout-2",
        revision=2,
        changes=["container app args: [] → ['--db-password', 'ArgsFlagPass55']"],
    )
    obs = Observation(incident_id="i-1", revisions=[revision])
    assert "ArgsFlagPass55" not in redact_observation(obs).model_dump_json()


PLANTED_ANNOTATIONS = {
    "example.com/aws": "AKIAZ3MEDICPLANTED01",
    "example.com/vault": "hvs.CAESIPlantedVaultTokenMedic0123456789",
    "example.com/db": "postgresql://shop:PgUrlPass55@db.shop:5432/shop",
    "example.com/mirror": "https://mirror:BasicUrlPass55@mirror.example.com/simple",
}


def test_dry_run_diff_of_template_annotations_holds_no_secret() -> None:
    diff = {"template.annotations": [{}, PLANTED_ANNOTATIONS], "replicas": [1, 2]}
    result = redact_dry_run(DryRunResult(ok=True, diffs=[{"action_index": 0, "changes": diff}]))
    dumped = result.model_dump_json()
    for secret in ("AKIAZ3MEDICPLANTED01", "hvs.CAESIP", "PgUrlPass55", "BasicUrlPass55"):
        assert secret not in dumped
    assert result.diffs[0]["changes"]["replicas"] == [1, 2]


def test_every_cluster_read_result_type_has_a_redaction_rule() -> None:
    results = [
        Observation(incident_id="i-1", notes=["token=PlantedNote55"]),
        DryRunResult(ok=False, problems=["refused: password=PlantedNote55"]),
        DriftPageResult(errors=["app: token=PlantedNote55"]),
        ApplicationCheck(applications=[ApplicationStatus(name="a", health_message="token=PlantedNote55")]),
        SyncProgress(state="failed", reason="token=PlantedNote55"),
    ]
    for result in results:
        assert "PlantedNote55" not in redact_step_result(result).model_dump_json()


def test_a_result_type_without_a_rule_is_refused_at_the_boundary() -> None:
    with pytest.raises(TypeError, match="no redaction rule"):
        redact_step_result(ContainerSpec(name="app", image="shop:1"))
