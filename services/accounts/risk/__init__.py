"""Risk control and support tickets in the accounts process (issue 17, items 5 and 6).

- ``rules``: the rules file (TOML, hot-reloaded), validated.
- ``windows``: one bounded evaluator per rule kind.
- ``engine``: the ``accounts-risk`` consumer of the usage stream, auth failures, actions.
- ``store``: records, reactivation requests, tickets (migration 0030).
- ``tickets``: what a ticket keeps about its requests (technical metadata only).
- ``service``: the ``Risk`` gRPC service (proto/tollgate/rpc/risk.proto).

Wiring (services/accounts/__main__.py): ``servicer = await risk.start(stack, settings, nc, js, store, notifier, log)``
once NATS is connected, then ``risk.register(servicer, server)`` beside ``Accounts``.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from services.accounts.access import Access
from services.accounts.notices import Notifier
from services.accounts.risk.engine import Enforcer, Engine
from services.accounts.risk.rules import RulesWatcher
from services.accounts.risk.service import RiskAccess, RiskService
from services.accounts.risk.store import RiskStore
from services.accounts.store import SqlStore
from tollgate import lifecycle
from tollgate.rpc import risk_pb2_grpc
from tollgate.settings import Settings
from tollgate.telemetry import Log


def rules_path(settings: Settings) -> Path:
    """``TOLLGATE_RISK_RULES``, default ``<data_dir>/risk.toml`` (no file = no rules)."""
    return Path(settings.risk_rules).resolve() if settings.risk_rules else settings.data_path / "risk.toml"


async def start(stack: AsyncExitStack, settings: Settings, nc, js, accounts: SqlStore, notifier: Notifier, log: Log) -> RiskService:
    store = RiskStore(settings.accounts_db_target)
    stack.callback(store.close)
    watcher = RulesWatcher(rules_path(settings), log)
    engine = Engine(js, nc, store, Enforcer(store, notifier, log), watcher, log)
    await lifecycle.background(stack, watcher.run, "risk-rules-watch", grace=1.0)
    await lifecycle.background(stack, engine.housekeeping, "risk-housekeeping", grace=1.0)
    if settings.risk_engine:  # off: this replica serves the Risk RPCs, another one judges the stream
        await lifecycle.background(stack, engine.run, "risk-consumer")
        await lifecycle.background(stack, engine.listen, "risk-auth-failures", grace=1.0)
    return RiskService(store, engine, RiskAccess(Access(settings.admin_credential, accounts, settings.key_hash_pepper)))


def register(servicer: RiskService, server) -> None:
    risk_pb2_grpc.add_RiskServicer_to_server(servicer, server)
