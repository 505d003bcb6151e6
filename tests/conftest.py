"""Shared fixtures: the real stack (nats-server, gRPC services, edge, metering and the
simulator as separate processes) on free ports, started once per test session."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tools.stack import Ports, Stack

DATA = Path(__file__).parent / "data"
PYTHON_SERVICES = ("accounts", "router", "metering", "edge")


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    stack = Stack(
        data_dir=tmp_path_factory.mktemp("stack"),
        ports=Ports.free(),
        catalog=DATA / "catalog.toml",
        extra_env={"TOLLGATE_UPSTREAM_READ_TIMEOUT_S": "2", "TOLLGATE_METERING_BATCH_WAIT_S": "0.2", "TOLLGATE_LOG_LEVEL": "debug"},
        log_to_files=True,
    )
    stack.start()
    yield stack
    stack.stop()
    unclean = {name: code for name, code in stack.exit_codes.items() if name in PYTHON_SERVICES and code != 0}
    assert not unclean, f"services did not shut down cleanly: {unclean}"


@pytest.fixture(scope="session")
def accounts(stack: Stack):
    with grpc.insecure_channel(stack.settings.accounts_addr) as channel:
        yield pb_grpc.AccountsStub(channel)


@pytest.fixture
def new_account(accounts):
    """Factory: a fresh account (balance in micro-USD) and one key for it."""

    def make(balance_micros: int = 5_000_000, name: str = "test") -> tuple[str, str]:
        account = accounts.CreateAccount(pb.CreateAccountRequest(name=name, initial_balance_micros=balance_micros))
        key = accounts.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="k"))
        return account.account_id, key.secret

    return make
