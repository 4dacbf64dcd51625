"""Change review latency on the embedded stack, for pull requests touching 1, 10 and 50 Applications.

    .venv/bin/python bench/review.py [--repeats 5] [--warmup 1]
    .venv/bin/python bench/review.py --apps 20

For each size N, builds a GitOps estate in memory: a bare repository whose `main` holds N
plain-manifest Applications (`apps/team-<i>/`: a Deployment, a Service and a ConfigMap of the size
real services have), a sandbox cluster holding their live objects (with what the API server and
the controllers add), and a sandbox Argo CD following the repository with N single-source
Applications (directory `apps/team-<i>`, `repoURL` the bare repository). A medic worker runs on a
Temporal dev server (in memory) over a migrated SQLite store, with the local pull request host on
the bare repository. Each pull request is a person's branch that changes every one of the N
Deployments: the image tag bumped, replicas 3 → 4, memory 512Mi → 1Gi.

Two figures per pull request, each on a branch of its own (same change, its own commit, so that
neither finds the other's rendering in the sandbox Argo CD's per-commit cache):

- **review**: from the signal-with-start of the pull request's `ChangeReviewWorkflow`, as
  `medic pr review` makes it, until the workflow's `status` query (polled every 20 ms) shows the
  head reviewed: the pending status, the affected Applications found, each rendered at the base
  and the head through Argo CD, the review with the policy's verdict stored, the comment and the
  `medic/review` status published;
- **render**: the rendering alone, the baseline: the 2N `ArgoClient.application_manifests` calls
  (base and head of each Application) the review makes, one after the other as it makes them.

The ratio review/render is what medic adds to Argo CD's own rendering. The two take turns in
which goes first. Each size runs `--warmup` untimed pull requests, then `--repeats` timed ones;
the median and the 90th percentile of each are reported. Every review is checked: N objects
changed (the Deployments), the monthly cost delta computed by hand at OpenCost's list prices
(within 1%), and the decision the shipped policy gives it (`warn` above $100 a month, else
`allow`); a review that does not match is reported and the benchmark exits with status 1.

A second table splits the review's median by activity, from each workflow's history (scheduled
to completed): `find_affected_applications`, `review_change` (the 2N renderings, the change set,
the review and the policy's verdict, stored), `publish_review` (the pending status and the final
comment and status together), and the rest (the workflow's own steps, Temporal, the 20 ms poll).
Each is a median of its own, so the rest can come out a little below zero.

Measured on 2 cores, 4 December 2026 (`.venv/bin/python bench/review.py`: 1 warm-up + 5 timed
pull requests per size), after the affected Applications' kustomization and chart probes were
answered from one file listing per revision (before: find 0.145 / 0.721 / 3.893 s, review 0.365
/ 1.491 / 9.104 s at 1 / 10 / 50 Applications):

    apps objects changed decision review p50 s   p90 s render p50 s   p90 s review/render per app ms
       1               1    allow        0.316   0.366        0.050   0.060          6.26      316.2
      10              10     warn        1.087   1.166        0.501   0.534          2.17      108.7
      50              50     warn        6.388   6.561        3.270   3.675          1.95      127.8

    inside the review, median s (scheduled to completed; publish_review: pending and final):
    apps    find review_change publish the rest
       1   0.090         0.094   0.035    0.098
      10   0.242         0.718   0.041    0.086
      50   1.372         4.834   0.110    0.072

A review of 50 Applications takes about twice Argo CD's rendering of them: finding them (their
kustomizations read at the head) about 27 ms each, the review proper (`review_change` beside the
rendering alone) some 45% on top of the rendering.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regopy  # noqa: F401  (before temporalio loads the C++ runtime: policies/load_order.py)
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from activities.review.steps import ChangeReviewActivities  # noqa: E402
from cli.devserver import DevServer, free_port  # noqa: E402
from domain.review.cost import Prices  # noqa: E402
from domain.settings import Settings  # noqa: E402
from domain.steps.review import ReviewRequest, ReviewResult, review_workflow_id  # noqa: E402
from integrations.argocd import ArgoClient  # noqa: E402
from integrations.pull_requests import local_review_target  # noqa: E402
from integrations.sealing import ensure_key_file  # noqa: E402
from integrations.temporal.client import connect, ensure_search_attributes  # noqa: E402
from sandbox.argocd_api import SandboxArgoCD  # noqa: E402
from sandbox.cluster import SandboxCluster  # noqa: E402
from sandbox.gitops import seed_bare_repo  # noqa: E402
from sandbox.scenario import Scenario  # noqa: E402
from store.db import make_engine, session_factory  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from workers.main import (  # noqa: E402
    ACTIVITY_THREADS,
    gitops_repo,
    pr_host,
    review_prices,
    review_repo_urls,
    workflow_runner,
)
from workflows.review import ChangeReviewWorkflow  # noqa: E402
from workflows.search import DEV_SERVER_FLAGS  # noqa: E402

TOKEN = "bench-token"
SIZES = (1, 10, 50)
POLL = 0.02  # seconds between two status queries
REVIEW_WORKFLOW = "ChangeReviewWorkflow"
HEAD_PUSHED = "head_pushed"

# The Deployment of each Application, at the base and at the head of every pull request.
BASE_TAG, BASE_REPLICAS, BASE_MEMORY = "2.3.1", 3, "512Mi"
HEAD_REPLICAS, HEAD_MEMORY = 4, "1Gi"
CPU = "250m"
# The shipped policy's default threshold for a cost warning (policies/review.rego).
COST_WARN_USD = 100.0


# ---- the estate ---------------------------------------------------------------------------------


def _labels(i: int) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "api",
        "app.kubernetes.io/part-of": f"team-{i}",
        "app.kubernetes.io/component": "backend",
    }


def deployment(
    i: int, *, tag: str = BASE_TAG, replicas: int = BASE_REPLICAS, memory: str = BASE_MEMORY
) -> dict[str, Any]:
    """Team `i`'s API Deployment as its team writes it: probes, limits, a non-root user."""
    selector = {"app.kubernetes.io/name": "api", "app.kubernetes.io/part-of": f"team-{i}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": f"team-{i}", "labels": _labels(i)},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": _labels(i),
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
                },
                "spec": {
                    "serviceAccountName": "default",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [
                        {
                            "name": "api",
                            "image": f"registry.example/team-{i}/api:{tag}",
                            "args": ["--config=/etc/api/application.yaml", "--port=8080"],
                            "ports": [
                                {"name": "http", "containerPort": 8080},
                                {"name": "metrics", "containerPort": 9090},
                            ],
                            "env": [
                                {"name": "TEAM", "value": f"team-{i}"},
                                {"name": "LOG_LEVEL", "value": "info"},
                                {"name": "DB_HOST", "value": f"postgres.team-{i}.svc"},
                                {"name": "DB_NAME", "value": "api"},
                                {
                                    "name": "POD_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                },
                            ],
                            "resources": {
                                "requests": {"cpu": CPU, "memory": memory},
                                "limits": {"memory": memory},
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/ready", "port": "http"},
                                "periodSeconds": 5,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "initialDelaySeconds": 10,
                                "periodSeconds": 10,
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/api", "readOnly": True}],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": "api-config"}}],
                },
            },
        },
    }


def service(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": f"team-{i}", "labels": _labels(i)},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": "api", "app.kubernetes.io/part-of": f"team-{i}"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }


def config_map(i: int) -> dict[str, Any]:
    """About 2 KB of application configuration, as services carry."""
    routes = "\n".join(
        f"  - path: /v1/{name}\n    upstream: http://{name}.team-{i}.svc:8080\n"
        "    timeout: 5s\n    retries: 2"
        for name in ("orders", "payments", "invoices", "customers", "catalog", "search", "reports")
    )
    application = (
        f"server:\n  port: 8080\n  shutdownGrace: 20s\ndatabase:\n  host: postgres.team-{i}.svc\n"
        "  pool:\n    min: 2\n    max: 20\n    idleTimeout: 60s\ncache:\n  ttl: 300s\n  size: 10000\n"
        f"routes:\n{routes}\n"
    )
    features = "\n".join(
        f"feature.{name}={'on' if n % 2 else 'off'}"
        for n, name in enumerate(
            ("new-checkout", "fast-search", "batch-export", "audit-trail", "rate-limits", "dark-mode")
        )
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "api-config", "namespace": f"team-{i}", "labels": _labels(i)},
        "data": {"application.yaml": application, "features.properties": features + "\n"},
    }


def manifests(i: int, **deployment_fields: Any) -> dict[str, str]:
    """Team `i`'s directory: path -> YAML text."""
    directory = f"apps/team-{i}"
    return {
        f"{directory}/deployment.yaml": yaml.safe_dump(deployment(i, **deployment_fields), sort_keys=False),
        f"{directory}/service.yaml": yaml.safe_dump(service(i), sort_keys=False),
        f"{directory}/configmap.yaml": yaml.safe_dump(config_map(i), sort_keys=False),
    }


def live(obj: dict[str, Any], app: str, serial: int) -> dict[str, Any]:
    """`obj` as the cluster holds it once Argo CD synced it: tracking id, server fields, status."""
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    group = out["apiVersion"].rpartition("/")[0]
    meta["annotations"] = {
        "argocd.argoproj.io/tracking-id": f"{app}:{group}/{out['kind']}:{meta['namespace']}/{meta['name']}"
    }
    meta["uid"] = str(uuid.UUID(int=serial))
    meta["creationTimestamp"] = "2026-11-02T09:14:07Z"
    if out["kind"] == "Deployment":
        meta["generation"] = 4
        meta["annotations"]["deployment.kubernetes.io/revision"] = "4"
        out["spec"]["progressDeadlineSeconds"] = 600
        out["spec"]["template"]["spec"] |= {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}
        replicas = out["spec"]["replicas"]
        out["status"] = {
            "observedGeneration": 4,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
    elif out["kind"] == "Service":
        out["spec"] |= {
            "clusterIP": f"10.96.{serial // 250 % 250}.{serial % 250 + 1}",
            "sessionAffinity": "None",
        }
    return out


def application(i: int, remote: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"team-{i}", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": remote, "targetRevision": "main", "path": f"apps/team-{i}"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": f"team-{i}"},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
        "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}},
    }


def estate(apps: int, remote: str) -> Scenario:
    """The N Applications' repository files, live objects and Argo CD Applications."""
    gitops: dict[str, str] = {}
    cluster: list[dict[str, Any]] = []
    for i in range(apps):
        gitops |= manifests(i)
        for n, obj in enumerate((deployment(i), service(i), config_map(i))):
            cluster.append(live(obj, f"team-{i}", 3 * i + n + 1))
    return Scenario(
        name=f"review-bench-{apps}",
        summary=f"{apps} plain-manifest Applications, each a Deployment, a Service and a ConfigMap",
        alert={},
        cluster=cluster,
        argocd=[application(i, remote) for i in range(apps)],
        gitops=gitops,
    )


def change(apps: int, tag: str) -> dict[str, str]:
    """A person's change to every Deployment: the image tag, replicas and memory."""
    return {
        path: text
        for i in range(apps)
        for path, text in manifests(i, tag=tag, replicas=HEAD_REPLICAS, memory=HEAD_MEMORY).items()
        if path.endswith("deployment.yaml")
    }


def _gib(quantity: str) -> float:
    return float(quantity[:-2]) / 1024 if quantity.endswith("Mi") else float(quantity[:-2])


def expected_cost(apps: int) -> float:
    """The change's monthly cost delta at OpenCost's list prices: requests × replicas × 730 h."""
    p = Prices()
    cpu = int(CPU[:-1]) / 1000 * p.cpu_core_hour_usd

    def month(replicas: int, memory: str) -> float:
        return replicas * (cpu + _gib(memory) * p.memory_gib_hour_usd) * p.hours_per_month

    return apps * (month(HEAD_REPLICAS, HEAD_MEMORY) - month(BASE_REPLICAS, BASE_MEMORY))


# ---- git ----------------------------------------------------------------------------------------


class Author:
    """A person's work tree of the bare repository, pushing one branch per pull request."""

    def __init__(self, remote: Path, work: Path) -> None:
        self.work = work
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        self.env |= {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
        for role in ("AUTHOR", "COMMITTER"):
            self.env |= {f"GIT_{role}_NAME": "dana", f"GIT_{role}_EMAIL": "dana@example.com"}
        subprocess.run(
            ["git", "clone", "-q", str(remote), str(work)], env=self.env, check=True, capture_output=True
        )

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.work), *args], env=self.env, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    def push(self, branch: str, files: dict[str, str], message: str) -> str:
        """`files` written on `branch` from `main`, committed and pushed; the commit."""
        self.git("checkout", "-q", "-B", branch, "origin/main")
        for path, text in files.items():
            (self.work / path).write_text(text)
        self.git("commit", "-q", "-a", "-m", message)
        self.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        return self.git("rev-parse", "HEAD")


# ---- measuring ----------------------------------------------------------------------------------


@dataclass
class Row:
    apps: int
    review: list[float] = field(default_factory=list)  # signal-with-start to reviewed, seconds
    render: list[float] = field(default_factory=list)  # the 2N manifests calls alone, seconds
    objects_changed: int = 0
    decision: str = ""
    monthly_delta_usd: float = 0.0
    # seconds from scheduled to completed, per activity (publish_review: both calls), per timed PR
    activities: dict[str, list[float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        render = statistics.median(self.render)
        return statistics.median(self.review) / render if render else 0.0


def p90(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def check(result: ReviewResult, row: Row, sha: str) -> list[str]:
    """What does not match the change in a review's outcome."""
    last = result.last
    if last is None or last.head_sha != sha:
        return [f"head {sha[:12]} not reviewed"]
    problems = []
    cost = expected_cost(row.apps)
    decision = "warn" if cost > COST_WARN_USD else "allow"
    if last.objects_changed != row.apps:
        problems.append(f"{last.objects_changed} objects changed, expected {row.apps}")
    if abs(last.monthly_delta_usd - cost) > 0.01 * abs(cost):
        problems.append(f"monthly delta ${last.monthly_delta_usd:.2f}, expected ${cost:.2f}")
    if last.decision != decision:
        problems.append(f"decision {last.decision}, expected {decision} ({last.summary})")
    return problems


async def reviewed(handle: Any, sha: str, timeout: float) -> ReviewResult:
    """The review workflow's status once it shows `sha` reviewed, polled every 20 ms."""
    deadline = time.perf_counter() + timeout
    while True:
        with contextlib.suppress(Exception):  # a query before the first workflow task
            status: ReviewResult = await handle.query("status", result_type=ReviewResult)
            if status.last is not None and status.last.head_sha == sha:
                return status
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{handle.id} did not review {sha[:12]} in {timeout:.0f} s")
        await asyncio.sleep(POLL)


async def review_once(
    client: Any, task_queue: str, request: ReviewRequest, *, timeout: float
) -> tuple[float, ReviewResult]:
    """Signal-with-start the pull request's review, as `medic pr review` does, and wait for its
    status to show the head reviewed: the seconds between the two, and the status."""
    started = time.perf_counter()
    handle = await client.start_workflow(
        REVIEW_WORKFLOW,
        request,
        id=review_workflow_id(request.target),
        task_queue=task_queue,
        start_signal=HEAD_PUSHED,
        start_signal_args=[request],
    )
    result = await reviewed(handle, request.target.head_sha, timeout)
    return time.perf_counter() - started, result


async def activity_seconds(client: Any, workflow_id: str) -> dict[str, float]:
    """Each activity's time in a review workflow's history, scheduled to completed, summed by name."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled: dict[int, tuple[str, float]] = {}
    seconds: dict[str, float] = {}
    for event in history.events:
        at = event.event_time.ToMicroseconds() / 1e6
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, at)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            name, since = scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]
            seconds[name] = seconds.get(name, 0.0) + at - since
    return seconds


def render_all(argocd: ArgoClient, apps: int, base: str, head: str) -> float:
    """The baseline: each Application rendered at the base and the head, one after the other; the
    seconds it took."""
    started = time.perf_counter()
    for i in range(apps):
        for revision in (base, head):
            if not argocd.application_manifests(f"team-{i}", revision=revision):
                raise RuntimeError(f"team-{i} rendered to nothing at {revision[:12]}")
    return time.perf_counter() - started


def review_worker(client: Any, settings: Settings, executor: ThreadPoolExecutor) -> Worker:
    """A worker of the review workflow and its activities, bound as `workers.main.activities_for`
    binds them (the GitOps clone, the local pull request host over the store, Argo CD), without
    the clients the other workflows need (the Kubernetes client alone takes seconds to load)."""
    sessions = session_factory(make_engine(settings.resolved_database_url))
    repo = gitops_repo(settings)
    activities = ChangeReviewActivities(
        repo,
        pr_host(settings, repo, sessions),
        ArgoClient(settings.argocd_url, settings.argocd_token),
        sessions,
        repo_urls=review_repo_urls(settings),
        policy_dir=settings.policy_dir or None,
        protected_namespaces=settings.protected_namespaces,
        prices=review_prices(settings),
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ChangeReviewWorkflow],
        workflow_runner=workflow_runner(),
        activities=[
            activities.find_affected_applications,
            activities.review_change,
            activities.publish_review,
        ],
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_THREADS,
    )


async def measure(base: Settings, apps: int, *, repeats: int, warmup: int, run: str, home: Path) -> Row:
    """`warmup + repeats` pull requests on an estate of `apps` Applications with a worker of its own."""
    row = Row(apps=apps)
    remote = home / f"gitops-{apps}.git"
    scenario = estate(apps, str(remote))
    main_sha = seed_bare_repo(remote, scenario.gitops, message=f"{apps} teams")
    author = Author(remote, home / f"author-{apps}")
    cluster = SandboxCluster(scenario)
    with (
        SandboxArgoCD(scenario.argocd, token=TOKEN, cluster=cluster, repo=remote) as argo,
        ThreadPoolExecutor(ACTIVITY_THREADS) as executor,
        ArgoClient(argo.url, TOKEN) as argocd,
    ):
        settings = base.model_copy(
            update={
                "argocd_url": argo.url,
                "argocd_token": TOKEN,
                "gitops_repo_url": str(remote),
                "gitops_workdir": str(home / f"gitops-work-{apps}"),
                "task_queue": f"bench-review-{run}-{apps}",
            }
        )
        client = await connect(settings)
        async with review_worker(client, settings, executor):
            for attempt in range(warmup + repeats):
                tag = f"2.4.{attempt}"
                files = change(apps, tag)
                branch = f"dana/{run}-{apps}-{attempt}"
                head = author.push(branch, files, f"team APIs {tag}: 4 replicas, 1Gi")
                render_head = author.push(f"{branch}-render", files, f"team APIs {tag} (rendered alone)")
                target = local_review_target(str(remote), branch)
                request = ReviewRequest(target=target, delivery=f"bench-{secrets.token_hex(4)}")
                review = review_once(client, settings.task_queue, request, timeout=60 + apps)
                render = asyncio.to_thread(render_all, argocd, apps, main_sha, render_head)
                if attempt % 2:
                    rendered, (reviewed_in, result) = await render, await review
                else:
                    (reviewed_in, result), rendered = await review, await render
                row.problems.extend(check(result, row, head))
                if result.last is not None:
                    row.objects_changed = result.last.objects_changed
                    row.decision = result.last.decision
                    row.monthly_delta_usd = result.last.monthly_delta_usd
                if attempt >= warmup:
                    row.review.append(reviewed_in)
                    row.render.append(rendered)
                    for name, spent in (await activity_seconds(client, review_workflow_id(target))).items():
                        row.activities.setdefault(name, []).append(spent)
    return row


def report(rows: list[Row]) -> None:
    print(
        f"{'apps':>4} {'objects changed':>15} {'decision':>8} {'review p50 s':>12} {'p90 s':>7} "
        f"{'render p50 s':>12} {'p90 s':>7} {'review/render':>13} {'per app ms':>10}"
    )
    for row in rows:
        review = statistics.median(row.review)
        print(
            f"{row.apps:>4} {row.objects_changed:>15} {row.decision:>8} "
            f"{review:>12.3f} {p90(row.review):>7.3f} "
            f"{statistics.median(row.render):>12.3f} {p90(row.render):>7.3f} {row.ratio:>13.2f} "
            f"{review / row.apps * 1000:>10.1f}"
        )
    names = ("find_affected_applications", "review_change", "publish_review")
    print(
        "\ninside the review, median s (scheduled to completed; publish_review: pending and final):\n"
        f"{'apps':>4} {'find':>7} {'review_change':>13} {'publish':>7} {'the rest':>8}"
    )
    for row in rows:
        spent = [statistics.median(row.activities.get(name) or [0.0]) for name in names]
        rest = statistics.median(row.review) - sum(spent)
        print(f"{row.apps:>4} {spent[0]:>7.3f} {spent[1]:>13.3f} {spent[2]:>7.3f} {rest:>8.3f}")


async def bench(sizes: Sequence[int], *, repeats: int, warmup: int, temporal_address: str) -> list[Row]:
    run = uuid.uuid4().hex[:6]
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="medic-bench-review-")))
        if not temporal_address:
            server = stack.enter_context(DevServer(port=free_port(), ui_port=None))
            temporal_address = server.address
        settings = Settings(
            home=str(home),
            temporal_address=temporal_address,
            task_queue=f"bench-review-{run}",
            database_url=f"sqlite:///{home / 'medic.db'}",
            snapshot_keys=ensure_key_file(home / "snapshot.key"),
            # The review reads Argo CD and Git only; nothing listens here.
            kube_api_url=f"http://127.0.0.1:{free_port()}",
            worker_metrics_address="",
        )
        upgrade(settings.resolved_database_url)
        client = await connect(settings)
        await ensure_search_attributes(client, settings.temporal_namespace, DEV_SERVER_FLAGS)
        print(
            f"embedded stack: Temporal {temporal_address}, SQLite, sandbox Argo CD following a bare "
            f"repository, local pull requests; {warmup} warm-up + {repeats} timed pull requests per size"
        )
        return [
            await measure(settings, apps, repeats=repeats, warmup=warmup, run=run, home=home)
            for apps in sizes
        ]


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, action="append", help="one size (repeatable; default 1, 10, 50)")
    parser.add_argument("--repeats", type=int, default=5, help="timed pull requests per size")
    parser.add_argument("--warmup", type=int, default=1, help="untimed pull requests per size first")
    parser.add_argument(
        "--temporal", default="", help="a running Temporal server's host:port (default: start a dev server)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or any(n < 1 for n in args.apps or ()):
        parser.error("--repeats and --apps must be at least 1, --warmup at least 0")
    rows = asyncio.run(
        bench(args.apps or SIZES, repeats=args.repeats, warmup=args.warmup, temporal_address=args.temporal)
    )
    report(rows)
    problems = [f"{row.apps} applications: {p}" for row in rows for p in dict.fromkeys(row.problems)]
    if problems:
        print("\nreviews that did not match the change:", *problems, sep="\n  ", file=sys.stderr)
    return rows


if __name__ == "__main__":
    sys.exit(1 if any(row.problems for row in main()) else 0)
