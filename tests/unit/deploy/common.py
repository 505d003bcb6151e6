"""What the deployment checks share: the files they read, the services and their settings, and
the shutdown budget. test_image.py, test_compose.py and test_k8s.py hold the checks; each
validator there is also shown a broken copy and must reject it, so a check that silently
stopped checking fails too. Environment variables are compared with ``Settings``: a renamed or
removed setting that compose or a manifest still sets fails."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import pytest

from tollgate import tracing
from tollgate.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "infra" / "Dockerfile"
K8S = ROOT / "infra" / "k8s"
README = ROOT / "infra" / "README.md"

SETTINGS_ENV = {"TOLLGATE_" + f.name.upper() for f in msgspec.structs.fields(Settings)}
SERVICES = {"services.edge": "edge", "services.accounts": "accounts", "services.router": "router", "services.metering": "metering"}
HTTP, GRPC = {"edge", "metering"}, {"accounts", "router"}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|PEPPER|_KEY$")
DEMO_KEY = "TOLLGATE_SIM_KEY"  # the demo catalog's api_key_env; the simulator accepts any key, so not a secret

# Worst-case shutdown, in seconds, of each service: the steps tollgate/lifecycle.py and the
# services' __main__ take one after another (HTTP drain, background tasks' grace, the gRPC
# grace, NATS drain, the bounded tracing flush last). Compose's stop_grace_period must cover
# it, Kubernetes' grace period too plus the preStop sleep.
HTTP_DRAIN, TASK_GRACE, SHORT_TASK, NATS_DRAIN = 10, 10, 1, 5
TRACING = math.ceil(tracing.FLUSH_S + tracing.STOP_S)
SHUTDOWN_S = {
    "edge": HTTP_DRAIN + 5 + 2 + 10 + NATS_DRAIN + TRACING,  # lease return, outcome and usage publisher flushes
    "metering": HTTP_DRAIN + 2 * TASK_GRACE + NATS_DRAIN + 1 + TRACING,  # usage consumer, lag watch; store close
    "accounts": TASK_GRACE + 2 * SHORT_TASK + Settings().grpc_shutdown_grace_s + NATS_DRAIN + TRACING,
    "router": 3 * SHORT_TASK + Settings().grpc_shutdown_grace_s + NATS_DRAIN + TRACING,
}


def service_of(container: dict) -> str | None:
    """Which Tollgate service a container (or compose service) runs, from its command."""
    command = container.get("command") or []
    return SERVICES.get(command[2]) if command[:2] == ["python", "-m"] and len(command) > 2 else None


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


def host_port(address: str) -> tuple[str, int]:
    parts = urlsplit(address if "://" in address else f"//{address}")
    return parts.hostname, parts.port


def listens_on(service: str, settings: Settings) -> tuple[str, int]:
    if service in GRPC:
        return host_port(getattr(settings, f"{service}_addr"))
    return getattr(settings, f"{service}_host"), getattr(settings, f"{service}_port")


def metrics_port(service: str, settings: Settings) -> int:
    """The port Prometheus scrapes ``/metrics`` from: a separate TOLLGATE_<SERVICE>_METRICS_PORT
    where one is set (accounts and router always; the edge, to keep its totals off the public
    API port), which must then listen on every interface; else the HTTP port of the edge and
    metering (metering's ``/metrics`` serves the whole registry, ingest metrics included).
    0: not scrapable from outside the container."""
    port = getattr(settings, f"{service}_metrics_port", 0)
    if port:
        return port if settings.metrics_host == "0.0.0.0" else 0
    return listens_on(service, settings)[1] if service in HTTP else 0


def served_paths(service: str) -> str:
    """The source that defines a service's HTTP routes (its package, plus tollgate/health.py)."""
    folder = {"simulator": ROOT / "tools" / "provider_sim"}.get(service, ROOT / "services" / service)
    return "\n".join(p.read_text() for p in [*folder.rglob("*.py"), ROOT / "tollgate" / "health.py"])
