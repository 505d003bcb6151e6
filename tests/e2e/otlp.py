"""A tiny in-memory OTLP trace receiver for tests: the services export to it over gRPC
(``TraceService/Export``) or HTTP (``POST /v1/traces``, protobuf), and tests read the spans."""

from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


@dataclass
class Span:
    service: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    name: str
    kind: str
    attributes: dict
    links: list[tuple[str, str]] = field(default_factory=list)  # (trace id, span id)
    error: bool = False


def _value(v):
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which) if which else None


def _spans(request: trace_service_pb2.ExportTraceServiceRequest) -> list[Span]:
    out = []
    for rs in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    Span(
                        service=resource.get("service.name", ""),
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex(),
                        name=s.name,
                        kind=KINDS.get(s.kind, str(s.kind)),
                        attributes={kv.key: _value(kv.value) for kv in s.attributes},
                        links=[(link.trace_id.hex(), link.span_id.hex()) for link in s.links],
                        error=s.status.code == 2,
                    )
                )
    return out


class Collector:
    """``Collector("grpc")`` or ``Collector("http/protobuf")``; ``env()`` points exporters at it."""

    def __init__(self, protocol: str = "grpc"):
        self.protocol = protocol
        self.raw: list[bytes] = []  # every export request as received (to search for leaks)
        self._spans: list[Span] = []
        self._lock = threading.Lock()
        self._server = None
        self.endpoint = ""

    def _receive(self, payload: bytes) -> None:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(payload)
        with self._lock:
            self.raw.append(payload)
            self._spans.extend(_spans(request))

    def start(self) -> Collector:
        if self.protocol == "grpc":
            collector = self

            class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
                def Export(self, request, context):  # the gRPC method's name
                    collector._receive(request.SerializeToString())
                    return trace_service_pb2.ExportTraceServiceResponse()

            self._server = grpc.server(futures.ThreadPoolExecutor(4))
            trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self._server)
            port = self._server.add_insecure_port("127.0.0.1:0")
            self._server.start()
            self.endpoint = f"http://127.0.0.1:{port}"
        else:
            collector = self

            class Handler(BaseHTTPRequestHandler):
                def do_POST(self):  # http.server's hook
                    payload = self.rfile.read(int(self.headers.get("content-length", 0)))
                    if self.path != "/v1/traces":
                        self.send_response(404)
                        self.end_headers()
                        return
                    collector._receive(payload)
                    body = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                    self.send_response(200)
                    self.send_header("content-type", "application/x-protobuf")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

                def log_message(self, *_args):
                    pass

            self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            threading.Thread(target=self._server.serve_forever, daemon=True).start()
            self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self.protocol == "grpc":
            self._server.stop(None)
        else:
            self._server.shutdown()
            self._server.server_close()

    def env(self, schedule_delay_ms: int = 100) -> dict[str, str]:
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": self.protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": str(schedule_delay_ms),
        }

    @property
    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)

    def wait(self, predicate, timeout: float = 20.0, what: str = "spans"):
        """Poll until ``predicate(spans)`` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self.spans)
            if result:
                return result
            if time.monotonic() > deadline:
                summary = sorted({(s.service, s.kind, s.name) for s in self.spans})
                raise AssertionError(f"timed out waiting for {what}; received: {summary}")
            time.sleep(0.1)
