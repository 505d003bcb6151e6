"""Unit fixtures: the Accounts servicer on a real gRPC server over a real store."""

from __future__ import annotations

import grpc
import pytest

from services.accounts.access import Access
from services.accounts.budgets import BudgetsService
from services.accounts.service import AccountsService
from services.accounts.store import SqlStore
from tollgate import credentials
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tollgate.rpc import budgets_pb2_grpc

PEPPER = "unit-test-pepper"
ADMIN = "tga_unit-test-admin-token"
TRIAL = 250_000


class FakeNotifier:
    def __init__(self) -> None:
        self.published: list[tuple[str, object]] = []
        self.balances: list[tuple[str, int]] = []

    async def publish(self, subject: str, event) -> None:
        self.published.append((subject, event))

    async def balance_changed(self, account_id: str, balance: int, **_key_spend) -> None:
        self.balances.append((account_id, balance))


class Served:
    """A running servicer: ``stub`` presents the admin credential; ``as_(credential)`` others."""

    def __init__(self, addr: str, store: SqlStore, notifier: FakeNotifier):
        self.addr, self.store, self.notifier = addr, store, notifier
        self._channels: list[grpc.aio.Channel] = []
        self.stub = self.as_(ADMIN)

    def as_(self, credential: str | None) -> pb_grpc.AccountsStub:
        channel = credentials.aio_channel(self.addr, credential) if credential is not None else grpc.aio.insecure_channel(self.addr)
        self._channels.append(channel)
        return pb_grpc.AccountsStub(channel)

    def budgets_as(self, credential: str) -> budgets_pb2_grpc.BudgetsStub:
        channel = credentials.aio_channel(self.addr, credential)
        self._channels.append(channel)
        return budgets_pb2_grpc.BudgetsStub(channel)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


def service_access(service: AccountsService) -> Access:
    return service._access  # the same caller checks as Accounts


async def _serve(accounts_db: str, trial: int = 0):
    store = SqlStore(accounts_db, lease_ttl_s=60, lease_settle_s=300)
    notifier = FakeNotifier()
    server = grpc.aio.server()
    service = AccountsService(store, notifier, Access(ADMIN, store, PEPPER), pepper=PEPPER, trial_credit_micros=trial)
    pb_grpc.add_AccountsServicer_to_server(service, server)
    budgets_pb2_grpc.add_BudgetsServicer_to_server(BudgetsService(store, notifier, service_access(service)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, Served(f"127.0.0.1:{port}", store, notifier)


@pytest.fixture
async def served(accounts_db: str):
    server, s = await _serve(accounts_db, TRIAL)
    try:
        yield s
    finally:
        await s.close()
        await server.stop(None)
        s.store.close()


@pytest.fixture
async def svc(accounts_db: str):
    """(admin stub, notifier, store) of a servicer without trial credit."""
    server, s = await _serve(accounts_db)
    try:
        yield s.stub, s.notifier, s.store
    finally:
        await s.close()
        await server.stop(None)
        s.store.close()
