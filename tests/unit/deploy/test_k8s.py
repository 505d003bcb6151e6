"""Offline checks of infra/k8s: the Kustomize base and demo overlay rendered in Python (and
compared with `kubectl kustomize` where kubectl is installed), validated against the Kubernetes
schemas, cross-referenced (selectors, probes, ConfigMaps, Secrets, HPA/PDB), secured, scraped,
and wired to the dependencies in infra/k8s/deps. No cluster needed."""

from __future__ import annotations

import base64
import copy
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from services.router.catalog import parse as parse_catalog
from tests.unit.deploy.common import (
    GRPC,
    HTTP,
    K8S,
    README,
    ROOT,
    SERVICES,
    SHUTDOWN_S,
    catalog_refs,
    check_env,
    host_port,
    listens_on,
    metrics_port,
    served_paths,
    service_of,
    settings_from,
)

KUBERNETES_VERSION = "1.35.0"
TARGETS = ["base", "overlays/demo"]
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass", "PriorityClass"}
# Keys of the Secret CloudNativePG creates for a Cluster's application user (<cluster>-app).
CNPG_APP_KEYS = {"username", "password", "host", "port", "dbname", "uri", "jdbc-uri", "pgpass"}


def render(directory: Path) -> list[dict]:
    """What `kubectl kustomize` gives for the features used here: resources (files and
    directories), config map and secret generators (create/replace/merge), namespace, images."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        docs += render(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    generators = [("ConfigMap", g) for g in kustomization.get("configMapGenerator", [])]
    generators += [("Secret", g) for g in kustomization.get("secretGenerator", [])]
    if generators:
        assert kustomization.get("generatorOptions", {}).get("disableNameSuffixHash") is True, f"{directory}: name hashes"
    for kind, generator in generators:
        data = {}
        for spec in generator.get("files", []):
            key, _, source = spec.rpartition("=")
            data[key or Path(source).name] = (directory / source).read_text()
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        if kind == "Secret":
            data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        existing = next((d for d in docs if d["kind"] == kind and d["metadata"]["name"] == generator["name"]), None)
        behavior = generator.get("behavior", "create")
        assert (existing is None) == (behavior == "create"), f"{directory}: {behavior} {kind} {generator['name']}"
        if existing is None:
            secret_type = {"type": "Opaque"} if kind == "Secret" else {}
            docs.append({"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]}, "data": data} | secret_type)
        else:
            existing["data"] = data if behavior == "replace" else {**existing.get("data", {}), **data}
    for doc in docs:
        if kustomization.get("namespace") and doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        for container in (c for d in docs if d["kind"] in WORKLOADS for c in containers(d)):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    return docs


def kinds(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


WORKLOADS = ("Deployment", "StatefulSet")


def workloads(docs: list[dict]) -> dict[str, dict]:
    """The Deployments and StatefulSets (metering's), by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] in WORKLOADS}


def containers(deployment: dict) -> list[dict]:
    return deployment["spec"]["template"]["spec"]["containers"]


def selected(deployments: dict[str, dict], selector: dict) -> list[dict]:
    """The Deployments whose pods carry every label of a (non-empty) selector."""

    def labels(d):
        return d["spec"]["template"]["metadata"]["labels"]

    return [d for d in deployments.values() if selector and all(labels(d).get(k) == v for k, v in selector.items())]


def documented_secrets() -> dict[str, set[str]]:
    """Secrets the operator creates: `kubectl create secret generic NAME --from-literal=KEY=...`
    in infra/README.md, and those a CloudNativePG Cluster in infra/k8s/deps creates."""
    text = README.read_text().replace("\\\n", " ")
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        if match := re.search(r"create secret generic ([\w.-]+)", line):
            found.setdefault(match.group(1), set()).update(re.findall(r"--from-literal=([\w.-]+)=", line))
    for path in (K8S / "deps").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Cluster" and doc["apiVersion"].startswith("postgresql.cnpg.io/"):
                found[doc["metadata"]["name"] + "-app"] = CNPG_APP_KEYS
    return found


def secret_keys(docs: list[dict], name: str) -> set[str] | None:
    rendered = kinds(docs, "Secret").get(name)
    return set(rendered.get("data") or {}) | set(rendered.get("stringData") or {}) if rendered else documented_secrets().get(name)


def pod_env(docs: list[dict], container: dict) -> tuple[dict[str, str], set[str]]:
    """(literal values the container gets, names of every variable it gets)."""
    values, names = {}, set()
    for source in container.get("envFrom", []):
        if ref := source.get("configMapRef"):
            values |= kinds(docs, "ConfigMap")[ref["name"]]["data"]
        if ref := source.get("secretRef"):
            names |= secret_keys(docs, ref["name"]) or set()
    for var in container.get("env", []):
        names.add(var["name"])
        if "value" in var:
            values[var["name"]] = var["value"]
    return values, names | set(values)


def tollgate_pods(docs: list[dict]):
    """(Deployment name, Deployment, container, service, its Settings) per Tollgate container."""
    for name, deployment in workloads(docs).items():
        for container in containers(deployment):
            if service := service_of(container):
                yield name, deployment, container, service, settings_from(pod_env(docs, container)[0], name)


@pytest.mark.parametrize("target", TARGETS)
def test_manifests_validate_against_the_kubernetes_schemas(target):
    docs = render(K8S / target)
    expected = {"Namespace", "Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert expected <= {d["kind"] for d in docs}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    broken = copy.deepcopy(workloads(docs)["edge"])
    containers(broken)[0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed: the renderer is checked against it where it is")
@pytest.mark.parametrize("target", TARGETS)
def test_renderer_agrees_with_kubectl_kustomize(target):
    result = subprocess.run(["kubectl", "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

    def key(d):
        return (d["kind"], d["metadata"]["name"])

    assert sorted(render(K8S / target), key=key) == sorted(yaml.safe_load_all(result.stdout), key=key)


@pytest.mark.parametrize("target", TARGETS)
def test_manifests_reference_what_exists(target):
    docs = render(K8S / target)
    deployments = workloads(docs)
    for name, deployment in deployments.items():
        assert deployment in selected({name: deployment}, deployment["spec"]["selector"]["matchLabels"]), name
    for name, svc in kinds(docs, "Service").items():
        backends = selected(deployments, svc["spec"]["selector"])
        assert len(backends) == 1, f"Service {name} selects {len(backends)} Deployments"
        ports = {value for c in containers(backends[0]) for p in c["ports"] for value in (p.get("name"), p["containerPort"])}
        for port in svc["spec"]["ports"]:
            assert port.get("targetPort", port["port"]) in ports, f"Service {name} targets {port}, not a container port"
    for deployment in deployments.values():
        for container in containers(deployment):
            ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe_spec = container.get(kind) or {}
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    if handler in probe_spec:
                        port = probe_spec[handler]["port"]
                        assert port in ports or port in ports.values(), f"{deployment['metadata']['name']} {kind} port {port}"
                        if handler == "httpGet":
                            assert f'"{probe_spec[handler]["path"]}"' in served_paths(service_of(container) or "simulator"), probe_spec
            service = service_of(container)
            if service in HTTP:
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", service
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", service
            elif service in GRPC:
                assert "grpc" in container["readinessProbe"], f"{service}: readiness through grpc.health.v1"
            for source in container.get("envFrom", []):
                if ref := source.get("configMapRef"):
                    assert ref["name"] in kinds(docs, "ConfigMap"), ref
                if ref := source.get("secretRef"):
                    assert secret_keys(docs, ref["name"]) is not None, f"Secret {ref['name']} is neither rendered nor documented"
            for var in container.get("env", []):
                if ref := var.get("valueFrom", {}).get("secretKeyRef"):
                    keys = secret_keys(docs, ref["name"])
                    assert keys is not None, f"Secret {ref['name']} is neither rendered nor documented as created"
                    assert ref["key"] in keys or ref.get("optional"), f"Secret {ref['name']} has no documented key {ref['key']}"
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in kinds(docs, "ConfigMap"), volume
    pdbs, hpas = kinds(docs, "PodDisruptionBudget"), kinds(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {"edge"} and set(pdbs) >= set(SERVICES.values())
    for hpa in hpas.values():
        ref = hpa["spec"]["scaleTargetRef"]
        target_deployment = deployments[ref["name"]]
        assert ref["kind"] == "Deployment" and "replicas" not in target_deployment["spec"], "the HPA owns the replica count"
        assert all(c["resources"]["requests"].get("cpu") for c in containers(target_deployment)), "CPU utilization needs requests"
        assert hpa["spec"]["minReplicas"] >= 2
    for name, pdb in pdbs.items():
        targets = selected(deployments, pdb["spec"]["selector"]["matchLabels"])
        assert len(targets) == 1, f"PDB {name} selects {len(targets)} Deployments"
        hpa = next((h for h in hpas.values() if h["spec"]["scaleTargetRef"]["name"] == targets[0]["metadata"]["name"]), None)
        replicas = hpa["spec"]["minReplicas"] if hpa else targets[0]["spec"].get("replicas", 1)
        spec = pdb["spec"]
        # Blocks every drain: minAvailable as high as the replicas, or maxUnavailable 0.
        assert spec.get("minAvailable", 0) < replicas and spec.get("maxUnavailable", 1) >= 1, f"PDB {name} blocks every drain"
        if replicas > 1:  # ... and with several replicas one stays up through a drain
            assert "minAvailable" in spec or spec["maxUnavailable"] < replicas, f"PDB {name} lets every replica go at once"


@pytest.mark.parametrize("target", TARGETS)
def test_metering_scales_out_by_shard_never_two_writers_of_one(target):
    """Metering's exactly-once insert (look the request ids up, insert the new ones) holds for
    one writer per request id. Replicas own disjoint shards of the usage subject
    (services/metering/shards.py) by their StatefulSet ordinal: the pod-index label is
    TOLLGATE_METERING_REPLICA, TOLLGATE_METERING_REPLICAS equals spec.replicas, the replicas
    share a ClickHouse server (chDB is one process per path), rolling updates replace one pod
    at a time (a StatefulSet never runs two pods of one ordinal), no autoscaler changes the
    count, and the budget does not block node drains."""
    docs = render(K8S / target)
    assert "metering" not in kinds(docs, "Deployment"), "metering is a StatefulSet: its pods' ordinals pick their shards"
    sts = kinds(docs, "StatefulSet")["metering"]
    spec = sts["spec"]
    assert spec["replicas"] > 1 and spec["updateStrategy"]["type"] == "RollingUpdate", spec
    assert kinds(docs, "Service")[spec["serviceName"]]["spec"]["clusterIP"] == "None", "the governing Service is headless"
    container = containers(sts)[0]
    env = {v["name"]: v for v in container["env"]}
    assert int(env["TOLLGATE_METERING_REPLICAS"]["value"]) == spec["replicas"]
    ordinal = env["TOLLGATE_METERING_REPLICA"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert ordinal == "metadata.labels['apps.kubernetes.io/pod-index']", ordinal
    assert "secretKeyRef" in env["TOLLGATE_CLICKHOUSE_DSN"]["valueFrom"], "the replicas share a ClickHouse server"
    values, _ = pod_env(docs, container)
    settings = settings_from(values, "metering")
    assert spec["replicas"] <= settings.usage_shards, "every replica owns a shard"
    edge = settings_from(pod_env(docs, containers(workloads(docs)["edge"])[0])[0], "edge")
    assert edge.usage_shards == settings.usage_shards, "edges and metering agree on the shard count"
    hpas = kinds(docs, "HorizontalPodAutoscaler").values()
    assert not [h for h in hpas if h["spec"]["scaleTargetRef"]["name"] == "metering"], "no HPA may scale metering"
    pdb = kinds(docs, "PodDisruptionBudget")["metering"]["spec"]
    assert "minAvailable" not in pdb and 1 <= pdb["maxUnavailable"] < spec["replicas"], pdb
    assert "StatefulSet" in README.read_text() and "shard" in README.read_text(), "infra/README.md says why"


@pytest.mark.parametrize("target", TARGETS)
def test_pods_run_unprivileged_with_budgets_and_grace(target):
    for name, deployment in kinds(render(K8S / target), "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] > 0, name
        assert context["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{name}: {bound}"
            command = container["command"]
            assert command[:2] == ["python", "-m"] and importlib.util.find_spec(command[2]), f"{name}: {command}"
            service = service_of(container)
            if service:
                pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
                assert pre_stop[0] == "sleep", pre_stop
                needed = int(pre_stop[1]) + SHUTDOWN_S[service]
                assert pod["terminationGracePeriodSeconds"] >= needed, f"{name}: grace {pod['terminationGracePeriodSeconds']} < {needed} s"


@pytest.mark.parametrize("target", TARGETS)
def test_manifest_settings_are_real_and_the_services_find_each_other(target, monkeypatch):
    docs = render(K8S / target)
    catalog = kinds(docs, "ConfigMap")["tollgate-catalog"]["data"]["catalog.toml"]
    services, settings, names = {s["metadata"]["name"]: s for s in kinds(docs, "Service").values()}, {}, {}
    for name, deployment in workloads(docs).items():
        for container in containers(deployment):
            if service := service_of(container):
                values, every = pod_env(docs, container)
                check_env(every, catalog, service, f"{target} {name}")
                settings[service], names[service] = settings_from(values, f"{target} {name}"), name
                ports = {p["name"]: p["containerPort"] for p in container["ports"]}
                listen = listens_on(service, settings[service])
                assert listen == ("0.0.0.0", ports["grpc" if service in GRPC else "http"]), f"{name} listens on {listen}"
                if service == "router":
                    target_path = Path(settings[service].catalog)
                    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(target_path.parent))
                    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates (no hot reload)"
                    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
                    assert volume["configMap"]["name"] == "tollgate-catalog", volume
                    assert target_path.name in kinds(docs, "ConfigMap")["tollgate-catalog"]["data"], target_path
                if service == "edge":
                    keys, _ = catalog_refs(catalog)
                    assert keys <= every, f"the edge lacks the catalog's keys {keys - every}"
    assert set(settings) == set(SERVICES.values())
    for client, server in (("edge", "accounts"), ("metering", "accounts"), ("edge", "router")):
        host, port = host_port(getattr(settings[client], f"{server}_addr"))
        backend = next(p for p in services[host]["spec"]["ports"] if p["port"] == port)
        assert selected(workloads(docs), services[host]["spec"]["selector"])[0]["metadata"]["name"] == names[server]
        assert backend["targetPort"] == "grpc", f"{client} reaches {server} at {host}:{port}"
    nats_values = yaml.safe_load((K8S / "deps" / "nats-values.yaml").read_text())
    jetstream = nats_values["config"]["jetstream"]
    assert jetstream["enabled"] is True and jetstream["fileStore"]["pvc"]["size"], "JetStream on persistent volumes"
    assert host_port(settings["edge"].nats_url) == ("nats", 4222) and "helm upgrade --install nats nats/nats" in README.read_text()
    for name in catalog_refs(catalog)[1]:
        monkeypatch.setenv(name, "x")
    for channel in parse_catalog(catalog.encode(), 1, base_dir=ROOT / "config").channels:
        host, port = host_port(channel.base_url)
        if "." not in host:  # an in-cluster Service (the demo's simulator)
            assert host in services and port in [p["port"] for p in services[host]["spec"]["ports"]], channel.base_url


def test_data_stores_match_the_secrets_the_services_read():
    readme = README.read_text()
    chi = yaml.safe_load((K8S / "deps" / "clickhouse.yaml").read_text())
    password = chi["spec"]["configuration"]["users"]["tollgate/password"]["valueFrom"]["secretKeyRef"]
    documented = documented_secrets()
    assert password["key"] in documented.get(password["name"], set()), "the ClickHouse password Secret must be documented"
    dsn = re.search(r"--from-literal=dsn=\"(http://[^\"]+)\"", readme).group(1)
    service = chi["spec"]["templates"]["serviceTemplates"][0]
    assert urlsplit(dsn).hostname == service["generateName"] and urlsplit(dsn).port in [p["port"] for p in service["spec"]["ports"]]
    assert urlsplit(dsn).username in [key.split("/")[0] for key in chi["spec"]["configuration"]["users"]]
    metering = workloads(render(K8S / "base"))["metering"]
    dsn_ref = next(v for v in containers(metering)[0]["env"] if v["name"] == "TOLLGATE_CLICKHOUSE_DSN")["valueFrom"]["secretKeyRef"]
    assert (dsn_ref["name"], dsn_ref["key"]) == (password["name"], "dsn")
    base_catalog = (K8S / "base" / "catalog.toml").read_text()
    assert base_catalog.endswith((ROOT / "config" / "catalog.example.toml").read_text()), "base catalog drifted from the example"
    assert catalog_refs(base_catalog)[0] <= documented["tollgate-provider-keys"], "document every provider key the base catalog names"
    assert (K8S / "overlays" / "demo" / "catalog.toml").read_bytes() == (ROOT / "infra" / "compose" / "catalog.toml").read_bytes()


def nats_cluster_size() -> int:
    """How many NATS servers the chart values in infra/k8s/deps run (one without clustering)."""
    cluster = yaml.safe_load((K8S / "deps" / "nats-values.yaml").read_text())["config"].get("cluster") or {}
    return int(cluster["replicas"]) if cluster.get("enabled") else 1


@pytest.mark.parametrize("target", TARGETS)
def test_streams_are_replicated_on_every_nats_server(target):
    """Every service creates or updates the streams at start (tollgate.bus.ensure_streams) with
    TOLLGATE_NATS_STREAM_REPLICAS: all must ask for as many replicas as the cluster has servers
    (JetStream allows at most 5), or the last one to start decides."""
    size = nats_cluster_size()
    assert 1 <= size <= 5, f"{size} NATS servers"
    pods = list(tollgate_pods(render(K8S / target)))
    assert {service for *_, service, _ in pods} == set(SERVICES.values())
    for name, _, _, _, settings in pods:
        assert settings.nats_stream_replicas == size, f"{name}: {settings.nats_stream_replicas} stream replicas on {size} NATS servers"


@pytest.mark.parametrize("target", TARGETS)
def test_every_service_is_scrapable(target):
    """Each Tollgate pod is annotated for Prometheus with a port its container declares, where
    the service serves /metrics: the HTTP port of the edge and metering, the metrics port of
    accounts and router (TOLLGATE_<SERVICE>_METRICS_PORT with TOLLGATE_METRICS_HOST=0.0.0.0)."""
    scraped = set()
    for name, deployment, container, service, settings in tollgate_pods(render(K8S / target)):
        annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
        assert annotations.get("prometheus.io/scrape") == "true", f"{name} is not annotated for scraping"
        port, path = int(annotations["prometheus.io/port"]), annotations.get("prometheus.io/path", "/metrics")
        declared = {p["containerPort"]: p.get("name") for p in container["ports"]}
        assert port in declared, f"{name}: prometheus.io/port {port} is not one of its containerPorts {sorted(declared)}"
        assert port == metrics_port(service, settings), f"{name} serves no metrics on {port} reachable from outside the pod"
        assert path == "/metrics", f"{name}: prometheus.io/path {path}"
        if service in HTTP and port == listens_on(service, settings)[1]:
            assert '"/metrics"' in served_paths(service), f"{name} has no /metrics route"
        else:
            assert declared[port] == "metrics" and port != listens_on(service, settings)[1], f"{name}: a port of its own, named metrics"
        scraped.add(service)
    assert scraped == set(SERVICES.values())
