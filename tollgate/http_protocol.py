"""uvicorn's HTTP/1.1 protocol (httptools) with two changes for a public door:

- a request uvicorn cannot parse (a malformed request line or header, a non-ASCII path,
  a bad URL) is answered 400 in the JSON error shape, not uvicorn's plain-text body;
- a request's headers must all arrive within ``header_timeout_s`` of its first byte (of
  the connection, for its first request); a slow-header connection then gets 408, in the
  JSON error shape, and is closed. uvicorn itself only times out idle keep-alive
  connections, never a request whose headers trickle in;
- a request's headers may take at most ``MAX_HEADER_BYTES`` (httptools sets no limit of its
  own): more is a 431, in the JSON error shape, and the connection is closed;
- a request asking to upgrade to anything but a WebSocket (``Upgrade: h2c``, what
  ``curl --http2`` sends) is served as the HTTP/1.1 request it also is, body included: the
  upgrade is declined by not answering 101 (RFC 9110 §7.8), and the connection closes after
  the answer (the parser stopped at the upgrade). httptools hands the bytes after the headers
  back unread, so uvicorn alone would run the request with an empty body. A body of unknown
  length (chunked) with such an upgrade is refused with a 400.

Which JSON shape: ``render(path, error)``, given whatever path the parser had read (may be
empty); by default the OpenAI-style ``{"error": {...}}``. The edge passes its own, which
picks the front door by the path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httptools
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

        _upgrade_body = -1  # body bytes still to come of a request whose upgrade was declined (-1: none)

        def data_received(self, data: bytes) -> None:
            self._last_data = data[:512]
            if self._upgrade_body >= 0:
                self._declined_upgrade_body(data)
                return
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.send_400_response(MALFORMED)
            except httptools.HttpParserUpgrade as upgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._decline_upgrade(data[upgrade.args[0] :] if upgrade.args else b"")
            if self._header_timer is None or self.transport.is_closing():
                return  # not waiting for headers (they are complete, or the connection is done)
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._disarm_header_timer()
                self._send_error(HeadersTooLarge(f"The request's headers exceed {MAX_HEADER_BYTES // 1024} KiB."))

        def _decline_upgrade(self, rest: bytes) -> None:
            """Serve the request without upgrading: the body follows the headers, as long as
            Content-Length says; the parser is done with this connection, so it closes after."""
            cycle = self.cycle
            if cycle is None or cycle.response_complete:
                return
            headers = dict(self.headers)
            if b"transfer-encoding" in headers:
                self._send_error(BadRequest("A request with an Upgrade header must give its body's Content-Length.", code="invalid_http"))
                return
            length = headers.get(b"content-length", b"0")
            cycle.keep_alive = False
            self._upgrade_body = int(length) if length.isdigit() else 0
            cycle.more_body = self._upgrade_body > 0
            self._declined_upgrade_body(rest)

        def _declined_upgrade_body(self, data: bytes) -> None:
            cycle = self.cycle
            if cycle is None or cycle.response_complete or self._upgrade_body <= 0:
                return
            piece = data[: self._upgrade_body]
            self._upgrade_body -= len(piece)
            cycle.body += piece
            if self._upgrade_body == 0:
                cycle.more_body = False
            cycle.message_event.set()

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
