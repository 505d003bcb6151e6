"""``python -m services.accounts``: the accounts gRPC service and its ledger consumer."""

from __future__ import annotations

from contextlib import AsyncExitStack

from prometheus_client import CollectorRegistry

from services.accounts import identity_wiring, risk
from services.accounts.access import Access
from services.accounts.billing import BillingService
from services.accounts.billing_store import BillingStore
from services.accounts.budgets import BudgetsService
from services.accounts.consumer import consume, ledger_metrics, watch_lag
from services.accounts.notices import Notifier, Outbox
from services.accounts.service import AccountsService
from services.accounts.store import SqlStore
from tollgate import bus, health, lifecycle, notices
from tollgate.metrics import GrpcMetrics, serve_metrics
from tollgate.rpc import accounts_pb2, accounts_pb2_grpc, billing_pb2, billing_pb2_grpc, budgets_pb2_grpc
from tollgate.settings import Settings
from tollgate.telemetry import Log


async def main(stack: AsyncExitStack, settings: Settings, log: Log) -> None:
    store = SqlStore(settings.accounts_db_target, lease_ttl_s=settings.lease_ttl_s, lease_settle_s=settings.lease_settle_s)
    stack.callback(store.close)
    nc = await lifecycle.nats_connection(stack, settings, "accounts")
    js = nc.jetstream()
    await bus.ensure_streams(js, settings.nats_stream_replicas, settings.nats_usage_max_bytes)
    await notices.ensure_control_stream(js, settings.nats_stream_replicas)
    registry = CollectorRegistry()
    outbox = Outbox(settings.accounts_db_target)
    stack.callback(outbox.close)
    notifier = Notifier(nc, outbox, log, replicas=settings.nats_stream_replicas, registry=registry)
    serve_metrics(registry, settings.accounts_metrics_port, settings.metrics_host)
    access = Access(settings.admin_credential, store, settings.key_hash_pepper)
    service = AccountsService(store, notifier, access, pepper=settings.key_hash_pepper, trial_credit_micros=settings.trial_credit_micros)
    risk_service = await risk.start(stack, settings, nc, js, store, notifier, log)  # rules, the risk consumer, tickets
    readiness = health.Readiness()
    readiness.add("nats", health.nats_check(nc))
    readiness.add("db", health.thread_check(store.ping))
    grpc_health = health.GrpcHealth(
        readiness, [health.service_name(accounts_pb2, "Accounts"), health.service_name(billing_pb2, "Billing")], log=log
    )
    await grpc_health.update()

    def register(server) -> None:
        accounts_pb2_grpc.add_AccountsServicer_to_server(service, server)
        billing_pb2_grpc.add_BillingServicer_to_server(
            BillingService(BillingStore(store), notifier, access, pepper=settings.key_hash_pepper), server
        )
        budgets_pb2_grpc.add_BudgetsServicer_to_server(BudgetsService(store, notifier, access), server)
        risk.register(risk_service, server)
        grpc_health.register(server)
        identity_wiring.register(server, store, settings)

    await lifecycle.grpc_server(stack, settings, settings.accounts_addr, register, [GrpcMetrics(registry)])
    ledger = ledger_metrics(registry)
    await lifecycle.background(stack, lambda stop: consume(stop, js, store, notifier, log, metrics=ledger), "ledger-consumer")
    await lifecycle.background(stack, lambda stop: watch_lag(stop, js, ledger), "ledger-lag-watch", grace=1.0)
    await lifecycle.background(stack, notifier.run, "notice-outbox", grace=1.0)
    await lifecycle.background(stack, grpc_health.run, "health-watch", grace=1.0)
    health.drain_first(stack, readiness, grpc_health)  # NOT_SERVING as soon as shutdown starts
    log.info(
        "accounts listening",
        addr=settings.accounts_addr,
        db="postgresql" if "://" in settings.accounts_db_target else settings.accounts_db_target,
    )


if __name__ == "__main__":
    lifecycle.run_service("accounts", main)
