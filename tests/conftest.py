"""Shared fixtures: the real stack (nats-server, gRPC services, edge, metering and the
simulator as separate processes) on free ports, started once per test session."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")  # before gRPC is imported: see tools/stack.py

import pytest

from tollgate import credentials
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tools.stack import SIM_AWS_KEY, Ports, Stack

DATA = Path(__file__).parent / "data"
PYTHON_SERVICES = ("accounts", "router", "metering", "edge", "edge2")

# Upstream protocol kinds, the simulator's path prefix for each, and the failure modes
# every kind is exercised with. Model "<kind>-<mode>" reaches upstream model "sim-<mode>".
UPSTREAM_KINDS = {"openai": "/v1", "anthropic": "/anthropic", "gemini": "/gemini", "azure": "/azure", "bedrock": "/bedrock"}
# A kind's own channel fields in the generated channels (azure: deployment URLs with an api-version).
KIND_SETTINGS = {"azure": 'api_version = "2024-10-21"\n'}
# Native embeddings/rerank kinds: "embed-<kind>" and "rerank-<kind>" on a channel of that kind
# (tests/e2e/test_provider_kinds.py), and azure's v1 API with an Entra token ("azure-v1").
RETRIEVAL_KINDS = {"cohere": "/cohere", "jina": "/jina", "voyage": "/voyage"}
RETRIEVAL_FAILURES = ("error-400", "error-401", "error-429", "error-500")  # "rerank-<kind>-<mode>"
# What a kind's channel holds beyond the common fields: its secret's variable and extra lines
# (bedrock: an AWS key the simulator knows, set by tools/stack.py, and the region it signs for).
KIND_CHANNELS = {"bedrock": ("TOLLGATE_SIM_AWS_KEY", 'region = "us-east-1"\n')}
# OpenAI-compatible kinds added by their profile alone: "profile-<kind>" on a channel of that
# kind at the simulator's OpenAI endpoint (tests/e2e/test_profiles.py).
PROFILE_KINDS = ("moonshot", "qwen", "zhipu", "siliconflow")
FAILURE_MODES = ("error-400", "error-401", "error-429", "error-500", "midstream-error", "malformed-stream")


PRICE = 'price = { input_per_mtok_micros = 3_000_000, output_per_mtok_micros = 7_000_000, version = "test-1" }'
CLIENTS = ("openai", "anthropic", "gemini", "responses")  # the client doors (responses: OpenAI's Responses API)
BAD_AWS_ENV = "TOLLGATE_SIM_AWS_BAD_KEY"  # a known AWS access key id with the wrong secret


def _channel(
    cid: str, provider: str, prefix: str, models: dict[str, str], priority: int = 0, settings: str | None = None, key_env: str = ""
) -> str:
    mapping = ", ".join(f'"{m}" = "{u}"' for m, u in models.items())
    extra = KIND_SETTINGS.get(provider, "") if settings is None else settings
    default_env, kind_lines = KIND_CHANNELS.get(provider, ("TOLLGATE_SIM_KEY", ""))
    return (
        f'[[channels]]\nid = "{cid}"\nprovider = "{provider}"\nbase_url = "http://127.0.0.1:${{TOLLGATE_SIM_PORT}}{prefix}"\n'
        f'api_key_env = "{key_env or default_env}"\n{kind_lines}priority = {priority}\nmodels = {{ {mapping} }}\n{extra}'
    )


def _models(*ids: str) -> list[str]:
    return [f'[[models]]\nid = "{m}"\n{PRICE}\n' for m in ids]


def contract_catalog() -> str:
    """tests/data/catalog.toml plus generated sections:
    - per upstream kind, ``contract-<kind>`` served only by a channel of that kind;
    - per (client, kind, failure mode), ``<client>-<kind>-<mode>`` on a channel of its own
      (a 401 disables its channel and a 429 cools it down: no test may see another's);
    - the routing tests' channels (breaker, cool-down, disable, data policy)."""
    parts = [(DATA / "catalog.toml").read_text()]
    for kind, prefix in UPSTREAM_KINDS.items():
        provider = "simulator" if kind == "openai" else kind
        parts += _models(f"contract-{kind}")
        parts.append(_channel(f"sim-{kind}-kind", provider, prefix, {f"contract-{kind}": "sim-1"}))
        for client in CLIENTS:
            for mode in FAILURE_MODES:
                model = f"{client}-{kind}-{mode}"
                parts += _models(model)
                parts.append(_channel(f"fault-{model}", provider, prefix, {model: f"sim-{mode}"}))
    # the Responses API passed through: an ``openai`` channel (its profile serves /responses natively)
    parts += _models("contract-openai-responses")
    parts.append(_channel("sim-openai-responses", "openai", "/v1", {"contract-openai-responses": "sim-1"}))
    for case in ("500", "429", "401"):
        parts += _models(f"h{case}")
        parts.append(_channel(f"h{case}-primary", "simulator", "/v1", {f"h{case}": f"sim-switch-{case}"}, priority=10))
        parts.append(_channel(f"h{case}-backup", "simulator", "/v1", {f"h{case}": "sim-1"}))
    for kind, prefix in RETRIEVAL_KINDS.items():
        parts += _models(f"embed-{kind}", f"rerank-{kind}")
        policy = "data_policy = { zdr = true }\n" if kind == "voyage" else ""  # no voyage entry in the vendor table
        parts.append(_channel(f"sim-{kind}", kind, prefix, {f"embed-{kind}": "sim-embed", f"rerank-{kind}": "sim-rerank"}) + policy)
        for mode in RETRIEVAL_FAILURES:  # each on a channel of its own, as the chat failure modes are
            parts += _models(f"rerank-{kind}-{mode}")
            parts.append(_channel(f"fault-rerank-{kind}-{mode}", kind, prefix, {f"rerank-{kind}-{mode}": f"sim-{mode}"}) + policy)
    parts += _models("embed-azure", "azure-v1")
    parts.append(_channel("sim-azure-embed", "azure", "/azure", {"embed-azure": "sim-embed"}))
    parts.append(_channel("sim-azure-v1", "azure", "/azure/openai/v1", {"azure-v1": "sim-1"}, settings='auth = "entra"\n'))
    parts += _models("policy-mixed", "policy-retaining", "soak")
    parts.append(_channel("policy-zdr", "simulator", "/v1", {"policy-mixed": "sim-1"}))  # the simulator vendor keeps nothing
    parts.append(_channel("policy-openai", "openai", "/v1", {"policy-mixed": "sim-1", "policy-retaining": "sim-1"}, priority=10))
    parts.append(_channel("soak-flaky", "simulator", "/v1", {"soak": "sim-flaky-30"}, priority=10))
    parts.append(_channel("soak-healthy", "simulator", "/v1", {"soak": "sim-1"}))
    parts += _models("console-two")  # the console's channels test (tests/e2e/test_console.py): one model, two channels
    parts.append(_channel("console-a", "simulator", "/v1", {"console-two": "sim-1"}, priority=10))
    parts.append(_channel("console-b", "simulator", "/v1", {"console-two": "sim-1"}))
    for kind in PROFILE_KINDS:
        parts += _models(f"profile-{kind}")
        parts.append(_channel(f"sim-profile-{kind}", kind, "/v1", {f"profile-{kind}": "sim-1"}))
    parts.append((DATA / "catalog_limits.toml").read_text())  # channel limits, timeouts, channel prices, cache writes
    parts.append((DATA / "catalog_groups.toml").read_text())  # pricing groups (issue 17)
    parts.append((DATA / "catalog_media.toml").read_text())  # images and moderation, priced in their own units
    parts.append(_channel("sim-azure-image", "azure", "/azure", {"image-azure": "sim-image"}))
    parts.append(_channel("sim-azure-whisper", "azure", "/azure", {"whisper-azure": "sim-whisper"}))  # uploads on a deployment
    parts.append(_channel("sim-imagen", "gemini", "/gemini", {"imagen": "imagen-3.0-generate-002"}))
    for client in CLIENTS:  # a bedrock channel whose AWS secret is wrong: the simulator's SigV4 check refuses it
        parts += _models(f"{client}-bedrock-bad-signature")
        parts.append(
            _channel(f"bad-sig-{client}", "bedrock", "/bedrock", {f"{client}-bedrock-bad-signature": "sim-1"}, key_env=BAD_AWS_ENV)
        )
    return "\n".join(parts)


PAYMENT_WEBHOOK_SECRET = "whsec_e2e_console_test_secret"


def stack_env() -> dict[str, str]:
    """The test stack's settings beyond the defaults (also for a second stack, e.g. on PostgreSQL)."""
    return {
        "TOLLGATE_UPSTREAM_READ_TIMEOUT_S": "2",
        "TOLLGATE_METERING_BATCH_WAIT_S": "0.2",
        "TOLLGATE_LOG_LEVEL": "debug",
        "TOLLGATE_PAYMENT_WEBHOOK_SECRET": PAYMENT_WEBHOOK_SECRET,  # the console's payment webhook (tests/e2e/test_console_billing.py)
        "TOLLGATE_FREE_QUOTA_MICROS": "1000000",  # a registered user's free quota (tests/e2e/test_identity.py)
        "TOLLGATE_REGISTER_MAX_PER_ADDR": "10000",  # every test registers from 127.0.0.1
        BAD_AWS_ENV: SIM_AWS_KEY.split(":")[0] + ":wrong-secret",
    }


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    data_dir = tmp_path_factory.mktemp("stack")
    catalog = data_dir / "catalog.toml"
    catalog.write_text(contract_catalog())
    stack = Stack(data_dir=data_dir, ports=Ports.free(), catalog=catalog, extra_env=stack_env(), log_to_files=True)
    stack.start()
    yield stack
    stack.stop()
    unclean = {name: code for name, code in stack.exit_codes.items() if name in PYTHON_SERVICES and code != 0}
    assert not unclean, f"services did not shut down cleanly: {unclean}"


@pytest.fixture(scope="session")
def admin_token(stack: Stack) -> str:
    """The stack's admin credential (its services read it from <data_dir>/admin-token)."""
    return stack.settings.admin_credential


@pytest.fixture(scope="session")
def accounts(stack: Stack, admin_token: str):
    """An accounts stub presenting the admin credential."""
    with credentials.channel(stack.settings.accounts_addr, admin_token) as channel:
        yield pb_grpc.AccountsStub(channel)


@pytest.fixture
def new_account(accounts):
    """Factory: a fresh account (balance in micro-USD) and one key for it (no rate limit
    unless asked: the suite's own traffic must not trip the 180 RPM default)."""

    def make(balance_micros: int = 5_000_000, name: str = "test", rpm_limit: int = -1) -> tuple[str, str]:
        account = accounts.CreateAccount(pb.CreateAccountRequest(name=name, initial_balance_micros=balance_micros))
        key = accounts.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="k", rpm_limit=rpm_limit))
        return account.account_id, key.secret

    return make


POSTGRES_DSN = os.environ.get("TOLLGATE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _docker_answers() -> str:
    """ "" when a Docker daemon answers, else why not."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return ""
    except Exception as exc:  # no socket, no permission, no daemon
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


@pytest.fixture(scope="session")
def postgres_dsn():
    """A PostgreSQL server: the one at TOLLGATE_TEST_POSTGRES_DSN when it answers, else a
    testcontainers one when Docker answers; skipped with both reasons otherwise."""
    import psycopg

    try:
        psycopg.connect(POSTGRES_DSN, connect_timeout=3).close()
        yield POSTGRES_DSN
        return
    except psycopg.OperationalError as exc:
        direct = f"no PostgreSQL server reachable at {POSTGRES_DSN} ({str(exc).splitlines()[0]})"
    why_not = _docker_answers()
    if why_not:
        pytest.skip(f"{direct}; no Docker daemon for testcontainers ({why_not})")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as container:
        yield container.get_connection_url()


@pytest.fixture(params=["sqlite", "postgres"])
def accounts_db(request, tmp_path):
    """An empty accounts database: a SQLite file, and a fresh schema in PostgreSQL
    (``postgres_dsn``: a local server or a testcontainer; skipped with the reason when neither)."""
    if request.param == "sqlite":
        yield str(tmp_path / "sub" / "accounts.sqlite3")
        return
    import psycopg

    dsn = request.getfixturevalue("postgres_dsn")
    admin = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    schema = f"tollgate_test_{secrets.token_hex(6)}"
    admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in dsn else "?"
    try:
        yield f"{dsn}{separator}options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


CLICKHOUSE_URL = os.environ.get("CLICKHOUSE_URL", "")  # e.g. http://default:@127.0.0.1:8123/default


@pytest.fixture(scope="session")
def clickhouse_server():
    """A ClickHouse server's base URL: CLICKHOUSE_URL when it answers, else a testcontainers
    one when Docker answers; skipped with the reason otherwise."""
    import clickhouse_connect

    if CLICKHOUSE_URL:
        try:
            clickhouse_connect.get_client(dsn=CLICKHOUSE_URL).close()
            yield CLICKHOUSE_URL.rsplit("/", 1)[0] if CLICKHOUSE_URL.count("/") > 2 else CLICKHOUSE_URL
            return
        except Exception as exc:
            pytest.skip(f"CLICKHOUSE_URL={CLICKHOUSE_URL} does not answer ({type(exc).__name__})")
    why_not = _docker_answers()
    if why_not:
        pytest.skip(f"no ClickHouse server: CLICKHOUSE_URL is not set and no Docker daemon for testcontainers ({why_not})")
    from testcontainers.clickhouse import ClickHouseContainer

    with ClickHouseContainer("clickhouse/clickhouse-server:25.8") as container:
        yield f"http://{container.username}:{container.password}@{container.get_container_host_ip()}:{container.get_exposed_port(8123)}"


@pytest.fixture(scope="module", params=["chdb", "clickhouse-server"])
def clickhouse_dsn(request, tmp_path_factory):
    """An empty metering database: embedded chDB, and a fresh database on a ClickHouse server."""
    if request.param == "chdb":
        yield f"chdb://{tmp_path_factory.mktemp('chdb')}/db"
        return
    import clickhouse_connect

    base = request.getfixturevalue("clickhouse_server")
    database = f"tollgate_test_{secrets.token_hex(6)}"
    admin = clickhouse_connect.get_client(dsn=base)
    admin.command(f"CREATE DATABASE {database}")
    try:
        yield f"{base}/{database}"
    finally:
        admin.command(f"DROP DATABASE {database}")
        admin.close()
