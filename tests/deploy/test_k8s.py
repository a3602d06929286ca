"""deploy/k8s/: every manifest validates against the Kubernetes schemas (kubernetes-validate)."""

from __future__ import annotations

import subprocess

import yaml

from tests.deploy.conftest import DEPLOY, venv_tool

K8S = DEPLOY / "k8s"


def manifests() -> list[dict]:
    docs: list[dict] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def test_manifests_validate_strictly() -> None:
    files = [str(path) for path in sorted(K8S.glob("*.yaml"))]
    result = subprocess.run(
        [venv_tool("kubernetes-validate"), "--strict", "--quiet", "-k", "1.30.0", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_process_has_a_deployment_and_the_cluster_objects_exist() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in manifests()}
    for role in ("web", "router", "sla", "presence", "worker"):
        assert ("Deployment", f"switchboard-{role}") in kinds
    for kind in ("Namespace", "ConfigMap", "Secret", "Service", "Ingress", "Job"):
        assert any(k == kind for k, _ in kinds), kind
    assert ("PodDisruptionBudget", "switchboard-router") in kinds


def test_router_autoscaler_uses_an_external_stream_lag_metric() -> None:
    hpa = next(doc for doc in manifests() if doc["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "switchboard-router"
    metric = hpa["spec"]["metrics"][0]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["name"] == "switchboard_inbound_lag"


def test_ingress_keeps_websockets_open() -> None:
    ingress = next(doc for doc in manifests() if doc["kind"] == "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
