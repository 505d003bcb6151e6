"""uvicorn's HTTP/1.1 protocol (httptools) with two changes for a public door:

- a request uvicorn cannot parse (a malformed request line or header, a non-ASCII path,
  a bad URL) is answered 400 in the JSON error shape, not uvicorn's plain-text body;
- a request's headers must all arrive within ``header_timeout_s`` of its first byte (of
  the connection, for its first request); a slow-header connection then gets 408, in the
  JSON error shape, and is closed. uvicorn itself only times out idle keep-alive
  connections, never a request whose headers trickle in;
- a request's headers may take at most ``MAX_HEADER_BYTES`` (httptools sets no limit of its
  own): more is a 431, in the JSON error shape, and the connection is closed.

Which JSON shape: ``render(path, error)``, given whatever path the parser had read (may be
empty); by default the OpenAI-style ``{"error": {...}}``. The edge passes its own, which
picks the front door by the path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import msgspec
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from tollgate import error_bodies
from tollgate.errors import BadRequest, RequestTimeout, TollgateError

Render = Callable[[str, TollgateError], bytes]
MALFORMED = "Invalid HTTP request received."
MAX_HEADER_BYTES = 64 * 1024  # the request line and every header


class HeadersTooLarge(BadRequest):
    status = 431
    default_code = "headers_too_large"


# The scope key holding ``time.perf_counter()`` when the server began parsing the request: the
# start of the edge's ``x-tollgate-overhead-ms`` (server parsing and framework routing included).
ARRIVED = "tollgate.arrived"


def openai_shape(_path: str, err: TollgateError) -> bytes:
    return msgspec.json.encode(error_bodies.openai(err))


def protocol_class(render: Render | None = None, header_timeout_s: float = 10.0) -> type[asyncio.Protocol]:
    """The protocol class to pass as uvicorn's ``http`` setting."""
    shape: Render = render or openai_shape

    class JsonErrorsProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _last_data: bytes = b""  # the start of the last bytes read: the door, when the parser had no URL yet

        _header_bytes = 0  # read since the current request began, while its headers are incomplete

        def data_received(self, data: bytes) -> None:
            self._last_data = data[:512]
            super().data_received(data)
            if self._header_timer is None or self.transport.is_closing():
                return  # not waiting for headers (they are complete, or the connection is done)
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._disarm_header_timer()
                self._send_error(HeadersTooLarge(f"The request's headers exceed {MAX_HEADER_BYTES // 1024} KiB."))

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.scope[ARRIVED] = time.perf_counter()  # type: ignore[literal-required]  # the request's first byte is parsed now
            self._header_bytes = 0
            self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()
            super().on_headers_complete()

        def send_400_response(self, msg: str) -> None:
            self._disarm_header_timer()
            self._send_error(BadRequest(MALFORMED, code="invalid_http"))

        def _arm_header_timer(self) -> None:
            self._disarm_header_timer()
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.cycle is not None and not self.cycle.response_complete:  # pipelined: the previous answer is still going out
                self._arm_header_timer()
            elif not self.transport.is_closing():
                self._send_error(RequestTimeout(f"The request's headers did not arrive within {header_timeout_s:g} s."))

        def _send_error(self, err: TollgateError) -> None:
            url = getattr(self, "url", b"") or self._last_data.split(b"\r\n", 1)[0].partition(b" ")[2].rpartition(b" ")[0]
            body = shape(url.split(b"?", 1)[0].decode("latin-1"), err)
            self.transport.write(
                b"".join(
                    (
                        STATUS_LINE[err.status],
                        b"content-type: application/json\r\n",
                        b"content-length: " + str(len(body)).encode() + b"\r\n",
                        b"connection: close\r\n\r\n",
                        body,
                    )
                )
            )
            self.transport.close()

    return JsonErrorsProtocol
