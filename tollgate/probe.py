"""Container health probe for Docker/compose healthchecks (Kubernetes uses native probes).

    python -m tollgate.probe http://127.0.0.1:18080/readyz     # any 2xx = healthy
    python -m tollgate.probe grpc://127.0.0.1:15051            # grpc.health.v1.Health, overall server
    python -m tollgate.probe grpc://127.0.0.1:15051/SERVICE    # ... or one named service

Exit status 0 when healthy, 1 otherwise (also for a bad argument: Docker reserves 2), with
one line on stderr saying why. It reads no settings and touches nothing but the standard
health endpoints the services serve, directly: proxy variables (HTTP(S)_PROXY, grpc_proxy)
set for the providers' egress are ignored.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

USAGE = "usage: python -m tollgate.probe (http://HOST:PORT/PATH | grpc://HOST:PORT[/SERVICE]) [--timeout SECONDS]"


# The probe talks to its own container: never through a proxy, whatever HTTP(S)_PROXY,
# http_proxy or grpc_proxy (set for the providers' egress) say.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def check_http(url: str, timeout: float) -> tuple[bool, str]:
    try:
        with _DIRECT.open(url, timeout=timeout) as reply:  # the URL is the operator's own
            return 200 <= reply.status < 300, f"HTTP {reply.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"


def check_grpc(target: str, service: str, timeout: float) -> tuple[bool, str]:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)]) as channel:
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            # types-grpcio-health-checking declares HealthStub without its methods (they are set in __init__)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)  # type: ignore[attr-defined]
        except grpc.RpcError as exc:
            return False, f"gRPC {exc.code().name}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, status


def check(url: str, timeout: float = 3.0) -> tuple[bool, str]:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return check_http(url, timeout)
    if parts.scheme == "grpc" and parts.netloc:
        return check_grpc(parts.netloc, parts.path.strip("/"), timeout)
    raise ValueError(f"not an http:// or grpc:// URL: {url!r}")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    timeout = 3.0
    if "--timeout" in args:
        at = args.index("--timeout")
        timeout = float(args[at + 1])
        del args[at : at + 2]
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 1
    try:
        healthy, why = check(args[0], timeout)
    except ValueError as exc:
        print(f"probe: {exc}", file=sys.stderr)
        return 1
    print(f"{'healthy' if healthy else 'unhealthy'}: {args[0]} {why}", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
