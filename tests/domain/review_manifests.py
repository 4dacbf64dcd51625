"""Manifests as Kubernetes objects really look, for the change review's tests, and small ways
to vary them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

Manifest = dict[str, Any]


def deployment(
    name: str = "checkout",
    namespace: str = "shop",
    *,
    replicas: int = 3,
    image: str = "registry.example.com/shop/checkout:1.14.2",
    cpu: str = "250m",
    memory: str = "512Mi",
) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "shop"},
        },
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {
                    "serviceAccountName": name,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "env": [
                                {"name": "LOG_LEVEL", "value": "info"},
                                {
                                    "name": "DATABASE_PASSWORD",
                                    "valueFrom": {"secretKeyRef": {"name": f"{name}-db", "key": "password"}},
                                },
                            ],
                            "resources": {
                                "requests": {"cpu": cpu, "memory": memory},
                                "limits": {"memory": memory},
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz/ready", "port": "http"},
                                "initialDelaySeconds": 5,
                                "periodSeconds": 10,
                                "timeoutSeconds": 2,
                                "failureThreshold": 3,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz/live", "port": "http"},
                                "initialDelaySeconds": 15,
                                "periodSeconds": 20,
                                "timeoutSeconds": 2,
                                "failureThreshold": 3,
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def statefulset(name: str = "orders-db", namespace: str = "shop", *, replicas: int = 3) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "postgres",
                            "image": "docker.io/library/postgres:16.4",
                            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
                        }
                    ]
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": "standard-rwo",
                        "resources": {"requests": {"storage": "20Gi"}},
                    },
                }
            ],
        },
    }


def service(name: str = "checkout", namespace: str = "shop", **spec: Any) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.14.7",
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            **spec,
        },
    }


def pvc(name: str = "uploads", namespace: str = "shop", storage: str = "10Gi") -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "standard-rwo",
            "resources": {"requests": {"storage": storage}},
        },
    }


def pdb(name: str = "checkout", namespace: str = "shop", **spec: Any) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": name}}, **spec},
    }


def migration_job(name: str = "checkout-db-migrate", command: list[str] | None = None) -> Manifest:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "annotations": {
                "helm.sh/hook": "pre-upgrade",
                "helm.sh/hook-delete-policy": "before-hook-creation",
            },
        },
        "spec": {
            "backoffLimit": 1,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "migrate",
                            "image": "registry.example.com/shop/checkout:1.15.0",
                            "command": command or ["/app/checkout", "db", "migrate", "--to", "latest"],
                        }
                    ],
                }
            },
        },
    }


def secret(name: str = "checkout-db", value: str = "s3cr3t-Pa55word-2026") -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "shop"},
        "type": "Opaque",
        "data": {"username": "Y2hlY2tvdXQ=", "password": value},
        "stringData": {"url": f"postgres://checkout:{value}@orders-db:5432/orders"},
    }


def cluster_role(name: str = "shop-reader", rules: list[dict[str, Any]] | None = None) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules
        or [
            {
                "apiGroups": ["apps"],
                "resources": ["deployments", "replicasets"],
                "verbs": ["get", "list", "watch"],
            }
        ],
    }


def cluster_role_binding(role: str = "shop-reader") -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "shop-ci"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "shop"}],
    }


def changed(manifest: Manifest, edit: Callable[[Manifest], None]) -> Manifest:
    """A deep copy of `manifest` with `edit` applied to it."""
    out = copy.deepcopy(manifest)
    edit(out)
    return out


def container(manifest: Manifest) -> dict[str, Any]:
    """The first container of a workload's pod template."""
    return manifest["spec"]["template"]["spec"]["containers"][0]
