"""Serve the Identity service in the accounts process, beside Accounts (one line in ``__main__``)."""

from __future__ import annotations

from services.accounts.identity_service import IdentityConfig, IdentityService
from services.accounts.identity_store import IdentityStore
from services.accounts.mailer import create_mailer
from services.accounts.store import SqlStore
from tollgate.rpc import identity_pb2_grpc
from tollgate.settings import Settings


def service(store: SqlStore, settings: Settings) -> IdentityService:
    config = IdentityConfig(
        console_url=settings.console_url,
        free_quota_micros=settings.free_quota_micros,
        session_ttl_s=settings.session_ttl_s,
        login_window_s=settings.login_window_s,
        login_max_failures_email=settings.login_max_failures_email,
        login_max_failures_addr=settings.login_max_failures_addr,
        register_max_per_addr=settings.register_max_per_addr,
        pepper=settings.key_hash_pepper,
    )
    mailer = create_mailer(settings.smtp_url, settings.outbox_path, settings.mail_from)
    return IdentityService(IdentityStore(store), mailer, settings.admin_credential, config)


def register(server, store: SqlStore, settings: Settings) -> None:
    identity_pb2_grpc.add_IdentityServicer_to_server(service(store, settings), server)
