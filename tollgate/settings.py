"""Settings for every Tollgate process, read from ``TOLLGATE_*`` environment variables.

One struct for the whole stack: each service reads the fields it needs, and the dev
launcher and tests set them all from one place. ``TOLLGATE_EDGE_PORT=9000`` sets
``edge_port``; values are converted to the field's type and validated.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

import msgspec

ENV_PREFIX = "TOLLGATE_"


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    log_level: str = "info"
    log_format: str = "auto"  # "json", "console" or "auto" (console on a TTY)
    data_dir: str = ".data"

    nats_url: str = "nats://127.0.0.1:14222"
    nats_stream_replicas: int = 1  # 3 on a 3-server NATS cluster
    nats_usage_max_bytes: int = 2 << 30  # the USAGE stream's byte bound (~575 bytes an event; README "Sizing NATS")
    gc_threshold: int = 50_000  # allocations between young-generation collections once started (0: CPython's default; lifecycle.tune_gc)
    metrics_host: str = "127.0.0.1"  # where the accounts/router/metering metrics ports listen (0.0.0.0 in a pod)

    accounts_addr: str = "127.0.0.1:15051"
    accounts_db: str = ""  # SQLite path or postgresql:// DSN; default <data_dir>/accounts.sqlite3
    accounts_metrics_port: int = 0  # 0 = no Prometheus endpoint
    key_hash_pepper: str = ""  # optional secret mixed into key hashes
    admin_token: str = ""  # the admin credential; default: <data_dir>/admin-token, created once
    trial_credit_micros: int = 0  # free credit granted to every new account (ledger kind "trial")
    lease_ttl_s: float = 60.0  # a balance lease not renewed for this long stops reserving
    risk_rules: str = ""  # the risk rules TOML (hot-reloaded); default <data_dir>/risk.toml; no file = no rules
    risk_engine: bool = True  # judge the usage stream in this accounts process (one replica of several: docs/risk-control.md)
    lease_settle_s: float = 300.0  # a returned lease keeps reserving its reported spend until debited, at most this long
    # identity (users, sessions, mail): see services/accounts/identity_service.py
    free_quota_micros: int = 0  # credited once per verified email to the organisation its user registered
    public_url: str = ""  # the console's base URL in mailed links; default http://<metering_host>:<metering_port>
    smtp_url: str = ""  # smtp://[user:password@]host[:port][?starttls=1] or smtps://…; "" = write mails to outbox_dir
    outbox_dir: str = ""  # default <data_dir>/outbox
    mail_from: str = "Tollgate <no-reply@tollgate.local>"
    session_ttl_s: float = 7 * 86_400.0
    session_cookie_secure: bool = True  # browsers accept Secure cookies on http://localhost and 127.0.0.1 too
    login_window_s: float = 900.0  # login throttling: failed sign-ins counted per window ...
    login_max_failures_email: int = 5  # ... per email address
    login_max_failures_addr: int = 30  # ... per client address
    register_max_per_addr: int = 20  # registrations from one client address per login window
    web_rpm_limit: int = 120  # console requests per minute per signed-in user

    router_addr: str = "127.0.0.1:15052"
    router_metrics_port: int = 0
    catalog: str = "config/catalog.toml"

    edge_host: str = "127.0.0.1"
    edge_port: int = 18080
    edge_workers: int = 1  # edge processes on edge_port (SO_REUSEPORT), supervised by the first one (services/edge/workers.py)
    edge_worker: int = 0  # set by that supervisor: this process's worker number (1..N); 0 = not a worker
    edge_metrics_port: int = 0  # 0: /metrics on the API port; else on its own port (TOLLGATE_METRICS_HOST), off the public one
    principal_cache_ttl_s: float = 60.0
    negative_cache_ttl_s: float = 5.0
    route_cache_ttl_s: float = 30.0
    cache_max_entries: int = 100_000
    upstream_connect_timeout_s: float = 10.0
    upstream_read_timeout_s: float = 300.0
    upstream_idle_timeout_s: float = 60.0  # the longest gap between an answer's pieces once they flow (a model's idle_ms over it)
    upstream_max_connections: int = 512  # the edge's open connections per upstream origin (scheme, host, port)
    publish_queue_max: int = 100_000  # usage events kept in memory; more wait in the spool only
    edge_spool_dir: str = ""  # the edge's usage spool; default <data_dir>/spool/edge-<host>-<edge_port> (one per edge process)
    edge_spool_max_bytes: int = 1 << 30  # ~3M events; when full, new requests get 503 until NATS takes the backlog
    edge_spool_fsync_s: float = 0.2  # a machine crash loses at most this much of the spool; a process crash nothing
    max_attempts: int = 4  # upstream attempts per request, across channels and fallback models
    failover_deadline_s: float = 60.0  # no new attempt starts after this long
    lease_slice_micros: int = 1_000_000  # how much balance an edge asks to reserve at a time
    lease_idle_s: float = 5.0  # an edge returns a lease unused for this long
    default_max_output_tokens: int = 4096  # worst case for pre-authorization when neither request nor catalog says

    metering_host: str = "127.0.0.1"
    metering_port: int = 18090
    clickhouse_dsn: str = ""  # default chdb:///<abs data_dir>/clickhouse
    metering_batch_size: int = 50_000  # most events per ClickHouse insert (a batch also ends metering_batch_wait_s after its first event)
    metering_batch_wait_s: float = 0.5
    metering_raw_ttl_days: int = 90  # raw usage rows expire after this many days (0 = never); hourly/daily rollups stay
    metering_metrics_port: int = 0  # 0 = no Prometheus endpoint
    # Usage events go to tollgate.usage.v1.<CRC-32(request id) % usage_shards> (0: the unsharded
    # subject). Metering replica k of metering_replicas owns the shards s with s % replicas == k
    # (replica 0 also the unsharded subject): every copy of an event reaches one process.
    usage_shards: int = 16
    metering_replicas: int = 1
    metering_replica: int = -1  # -1: the ordinal of a StatefulSet host name (metering-<k>), else 0
    # The console (metering's HTTP app): the payment provider's webhook signing secret(s)
    # ("whsec_...", comma-separated while rotating; "" = the webhook endpoint is off), how old a
    # signed delivery may be, the edge the playground calls, and the playground's requests/min.
    payment_webhook_secret: str = ""
    payment_webhook_tolerance_s: int = 300
    console_edge_url: str = ""  # default http://<edge_host, or 127.0.0.1 for 0.0.0.0>:<edge_port>
    console_web_rpm: int = 120

    grpc_shutdown_grace_s: float = 5.0
    http_shutdown_grace_s: float = 10.0  # SIGTERM: in-flight requests and streams get this long to finish

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        raw = {}
        for field in msgspec.structs.fields(cls):
            value = environ.get(ENV_PREFIX + field.name.upper())
            if value is not None:
                raw[field.name] = value
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SystemExit(f"invalid setting: {exc}") from None

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    def edge_spool_path(self) -> Path:
        """The edge's own spool folder: one per process (host name and port); an edge adopts the
        orphaned sibling folders of edges that are gone (``services/edge/spool.py``)."""
        if self.edge_spool_dir:
            return Path(self.edge_spool_dir).resolve()
        worker = f"-w{self.edge_worker}" if self.edge_worker else ""
        return self.data_path / "spool" / f"edge-{socket.gethostname()}-{self.edge_port}{worker}"

    @property
    def edge_worker_metrics_port(self) -> int:
        """Where this edge process serves /metrics (0: on the API port): worker i, port + i - 1."""
        if not self.edge_metrics_port or not self.edge_worker:
            return self.edge_metrics_port
        return self.edge_metrics_port + self.edge_worker - 1

    @property
    def accounts_db_path(self) -> Path:
        return Path(self.accounts_db).resolve() if self.accounts_db else self.data_path / "accounts.sqlite3"

    @property
    def accounts_db_target(self) -> str:
        """What the accounts store opens: a PostgreSQL DSN as given, else the SQLite path."""
        if self.accounts_db.startswith(("postgresql://", "postgres://")):
            return self.accounts_db
        return str(self.accounts_db_path)

    @property
    def admin_credential(self) -> str:
        from tollgate.credentials import TOKEN_FILE, load_or_create_token

        return self.admin_token or load_or_create_token(self.data_path / TOKEN_FILE)

    @property
    def outbox_path(self) -> Path:
        return Path(self.outbox_dir).resolve() if self.outbox_dir else self.data_path / "outbox"

    @property
    def console_url(self) -> str:
        return (self.public_url or f"http://{self.metering_host}:{self.metering_port}").rstrip("/")

    @property
    def clickhouse(self) -> str:
        return self.clickhouse_dsn or f"chdb://{self.data_path / 'clickhouse'}"

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        return {ENV_PREFIX + k.upper(): str(v) for k, v in msgspec.structs.asdict(self).items()}
