"""Offline checks of docker-compose.yml (against the Compose specification, health and start
order, volumes, secrets, settings and wiring) and of the client base URLs the README gives."""

from __future__ import annotations

import graphlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from services.router.catalog import parse as parse_catalog
from tests.unit.deploy.common import (
    COMPOSE,
    DEMO_KEY,
    GRPC,
    HTTP,
    INTERPOLATION,
    ROOT,
    SECRET_NAME,
    SERVICES,
    SHUTDOWN_S,
    catalog_refs,
    check_env,
    host_port,
    listens_on,
    metrics_port,
    service_of,
    settings_from,
)


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_tollgate(doc: dict) -> dict[str, tuple[str, dict]]:
    """Compose services running a Tollgate service: name -> (service, definition)."""
    return {name: (service_of(svc), svc) for name, svc in doc["services"].items() if service_of(svc)}


def resolved(value) -> str:
    """A compose value with every ${VAR...} interpolation replaced by a stand-in."""
    return INTERPOLATION.sub("x", str(value))


def compose_catalog_path(doc: dict) -> Path:
    router = next(svc for service, svc in compose_tollgate(doc).values() if service == "router")
    target = Path(router["environment"]["TOLLGATE_CATALOG"])
    mount = next(v for v in router["volumes"] if isinstance(v, dict) and v["target"] == str(target.parent))
    assert mount["type"] == "bind" and mount.get("read_only") is True, "the catalog directory is mounted read-only"
    default = INTERPOLATION.fullmatch(mount["source"])
    assert default and default.group(2) == ":-", "CATALOG_DIR picks the catalog directory, with a default"
    return ROOT / default.group(3) / target.name


def test_compose_file_follows_the_compose_specification(tmp_path):
    schema = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]

    def check_compose_spec(path):
        return subprocess.run([*schema, str(path)], capture_output=True, text=True)

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
    stores = {
        "nats:": settings["edge"].nats_url,
        "clickhouse/": settings["metering"].clickhouse,
        "postgres:": settings["accounts"].accounts_db,
    }
    for image, address in stores.items():
        assert images.get(urlsplit(address).hostname, "").startswith(image), f"{address} is not the {image} service"
    assert settings["metering"].clickhouse.startswith("http"), "the image has no embedded ClickHouse: metering needs a server"
    published = {name: tuple(map(int, str(p).rsplit(":", 1))) for name, svc in doc["services"].items() for p in svc.get("ports") or []}
    assert published == {names["edge"]: (18080, listen["edge"][1]), names["metering"]: (18090, listen["metering"][1])}
    for service, name in names.items():
        grace = doc["services"][name].get("stop_grace_period", "10s")
        assert int(grace.removesuffix("s")) >= SHUTDOWN_S[service], f"{name}: stop_grace_period {grace} < {SHUTDOWN_S[service]} s"


def test_compose_streams_fit_one_nats_server_and_every_service_is_scrapable():
    """Compose runs one NATS server, so the streams get one replica (more and JetStream refuses
    to create them). Prometheus on the compose network scrapes each service: the edge and
    metering on their HTTP port, accounts and router on their metrics port, declared with
    `expose` and not published on the host."""
    doc = compose()
    command = doc["services"]["nats"]["command"]
    assert not {"--cluster", "--routes", "--cluster_name"} & set(command), "compose runs a single NATS server"
    for name, (service, svc) in compose_tollgate(doc).items():
        settings = settings_from({k: resolved(v) for k, v in svc["environment"].items()}, f"compose {name}")
        assert settings.nats_stream_replicas == 1, f"{name}: {settings.nats_stream_replicas} stream replicas on one NATS server"
        port = metrics_port(service, settings)
        assert port, f"{name} serves no metrics reachable from outside its container"
        if service in HTTP and port == listens_on(service, settings)[1]:
            continue
        assert port != listens_on(service, settings)[1], f"{name}: the metrics port is its API port"
        assert [int(p) for p in svc.get("expose") or []] == [port], f"{name}: expose its metrics port {port}"
        published = {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in svc.get("ports") or []}
        assert port not in published, f"{name}'s metrics port is published on the host"


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
