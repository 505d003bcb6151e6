"""Multipart uploads (audio to transcribe, images to edit) relayed to the upstream as they
arrive: never written to disk, never logged, never held whole.

The client's form is read only as far as its first file: the text fields before it (the
``model`` among them, which routing needs) and the file's first ``SNIFF_BYTES`` (its header:
a WAV's duration bounds the hold). A form whose file comes before ``model`` (the Node SDK
with a ``File``) is held until ``model`` arrives, within the size limit. The upstream gets those fields re-framed (``model``
replaced by the channel's own) followed by the client's bytes from the file on, verbatim and
as they come (``body``), so memory stays bounded by a piece and the sockets' buffers. An
upload is read once: a failure after it began streaming is not retried on another channel.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Final

from litestar import Request
from litestar.exceptions import InternalServerException

from tollgate.errors import BadRequest, PayloadTooLarge, TollgateError, UpstreamError
from tollgate.providers.base import Streamed

MAX_FILE_BYTES: Final = 25 * 1024 * 1024  # OpenAI's limit for an audio or image upload
MAX_BODY_BYTES: Final = MAX_FILE_BYTES + 1024 * 1024  # the file plus its form's other fields and framing
MAX_FIELD_BYTES: Final = 64 * 1024  # one text field (a prompt, a language)
MAX_HEADER_BYTES: Final = 8 * 1024  # one part's headers
MAX_FIELDS: Final = 64
SNIFF_BYTES: Final = 64 * 1024  # the file's first bytes read before routing
_BOUNDARY: Final = re.compile(r'boundary="?([^";,]{1,70})"?', re.IGNORECASE)
_PARAM: Final = re.compile(r'\b(name|filename)="((?:[^"\\]|\\.)*)"', re.IGNORECASE)


class ClientGone(TollgateError):
    """The client left before its upload was all sent: nothing is billed, the upstream's
    connection is dropped (it got a cut body)."""

    status = 499
    error_type = "invalid_request_error"
    default_code = "client_closed"


async def client_bytes(request: Request) -> AsyncIterator[bytes]:
    """The request's body as it arrives; a client that disconnects mid-upload is ``ClientGone``."""
    try:
        async for piece in request.stream():
            yield piece
    except InternalServerException:  # Litestar's "client disconnected prematurely"
        raise ClientGone("The client disconnected before its upload was complete.") from None


class Consumed(UpstreamError):
    """An upload already streamed to one channel cannot be sent to another (it is not kept)."""


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"The upload is larger than the {MAX_FILE_BYTES // (1024 * 1024)} MB limit.", code="file_too_large")


def _bad(message: str) -> BadRequest:
    return BadRequest(message, code="invalid_multipart")


class Upload:
    """A client's multipart form, read up to its first file's first bytes."""

    def __init__(self, boundary: bytes, source: AsyncIterator[bytes], length: int | None):
        self.boundary = boundary
        self.length = length  # the client's Content-Length, when it sent one
        self.fields: dict[str, str] = {}  # the text fields before the first file
        self.file_field = ""
        self.filename = ""
        self.content_type = ""
        self.head = b""  # the file's first bytes (up to SNIFF_BYTES; all of it when smaller)
        self.file_complete = False  # ``head`` is the whole file
        self.started = False
        self._source = source
        self._buffer = bytearray()
        self._received = 0
        self._resume = 0  # where the client's bytes are relayed verbatim from: the first file part streamed
        self._held: list[tuple[int, int]] = []  # whole file parts read before ``model`` (relayed after the fields)
        self._file_size: int | None = None  # the first file's size, when it was held whole

    @property
    def file_bytes(self) -> int:
        """The file's size: exact when it is all in ``head``, else bounded from the body's length."""
        if self.file_complete:
            return len(self.head)
        if self._file_size is not None:
            return self._file_size
        if self.length is not None:
            return max(self.length - self._resume, len(self.head))
        return MAX_FILE_BYTES

    async def _more(self) -> bool:
        try:
            piece = await self._source.__anext__()
        except StopAsyncIteration:
            return False
        self._count(len(piece))
        self._buffer += piece
        return True

    def _count(self, n: int) -> None:
        self._received += n
        if self._received > MAX_BODY_BYTES:
            raise too_large()

    async def _find(self, needle: bytes, start: int, bound: int) -> int:
        """Where ``needle`` is at or after ``start`` (reading on as needed), -1 when it is not
        within ``bound`` bytes or the body ends first. Each byte is searched once."""
        searched = start
        while (at := self._buffer.find(needle, searched)) < 0:
            if len(self._buffer) - start > bound + len(needle):
                return -1
            searched = max(start, len(self._buffer) - len(needle) + 1)
            if not await self._more():
                return -1
        return at

    async def read_head(self) -> None:
        delimiter = b"--" + self.boundary
        closing = b"\r\n" + delimiter
        at = await self._find(delimiter, 0, MAX_FIELD_BYTES)
        if at < 0:
            raise _bad("The body is not multipart/form-data with the boundary its Content-Type names.")
        pos = at
        while True:
            if len(self.fields) > MAX_FIELDS:
                raise _bad(f"The form has more than {MAX_FIELDS} fields.")
            start = pos  # this part's delimiter
            ends = await self._find(b"\r\n\r\n", pos, MAX_HEADER_BYTES)
            if ends < 0 or not self._buffer.startswith(delimiter + b"\r\n", pos):
                raise _bad("A part of the form has no headers, or they are too long.")
            headers = bytes(self._buffer[pos + len(delimiter) + 2 : ends]).decode("utf-8", "replace")
            name, filename, content_type = _part_headers(headers)
            body_at = ends + 4
            if filename is not None:
                if not self.file_field:
                    self.file_field, self.filename, self.content_type = name, filename, content_type
                    await self._sniff(body_at, closing)
                if "model" in self.fields:  # routable: the rest streams
                    self._resume = start
                    return
                # A file before ``model`` (a client that orders its form so): held whole until
                # ``model`` arrives, within the size limit, since routing needs it.
                close = await self._find(closing, body_at, MAX_BODY_BYTES)
                if close < 0:
                    raise _bad(f"The file {name!r} never ends.")
                if not self._held:
                    self._file_size = close - body_at
                self._held.append((start, close + 2))
            else:
                close = await self._find(closing, body_at, MAX_FIELD_BYTES)
                if close < 0:
                    raise _bad(f"The form field {name!r} is longer than {MAX_FIELD_BYTES} bytes or never ends.")
                try:
                    self.fields[name] = bytes(self._buffer[body_at:close]).decode("utf-8")
                except UnicodeDecodeError:
                    raise _bad(f"The form field {name!r} is not UTF-8 text.") from None
            pos = close + 2
            if self._buffer.startswith(delimiter + b"--", pos):  # the form's end
                if not self.file_field:
                    raise BadRequest("The form has no file; send it as a file part.", code="missing_file")
                self._resume = pos
                return

    async def _sniff(self, body_at: int, closing: bytes) -> None:
        while len(self._buffer) - body_at < SNIFF_BYTES + len(closing) and await self._more():
            pass
        window = self._buffer[body_at : body_at + SNIFF_BYTES + len(closing)]
        end = window.find(closing)
        self.file_complete = end >= 0
        self.head = bytes(window[:end] if end >= 0 else window[:SNIFF_BYTES])
        if self.file_complete and not self.head:
            raise BadRequest(f"The file {self.file_field!r} is empty.", code="empty_file")

    def body(self, fields: dict[str, str]) -> Streamed:
        """The form for the upstream: ``fields`` re-framed, then the client's bytes from the
        first file on as they arrive. Sent once only: ``Consumed`` once a body began to be sent."""
        if self.started:  # a body built for a channel that was never reached (refused connection) is not started
            raise Consumed("The upstream failed after the upload was sent to it; uploads are never kept, so it is not retried.")
        delimiter = b"--" + self.boundary
        prefix = b"".join(
            delimiter + f'\r\nContent-Disposition: form-data; name="{_quote(k)}"\r\n\r\n'.encode() + v.encode() + b"\r\n"
            for k, v in fields.items()
        )
        prefix += b"".join(self._buffer[a:b] for a, b in self._held)
        length = None if self.length is None else self.length - self._resume + len(prefix)
        return Streamed(self._relay(prefix), length)

    async def _relay(self, prefix: bytes) -> AsyncIterator[bytes]:
        if self.started:
            raise Consumed("The upload was already sent to another upstream; uploads are never kept.")
        self.started = True
        first = prefix + bytes(self._buffer[self._resume :])
        self._buffer = bytearray()  # nothing of the file stays here
        yield first
        async for piece in self._source:
            self._count(len(piece))
            yield piece


def _quote(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _part_headers(text: str) -> tuple[str, str | None, str]:
    name, filename, content_type = None, None, ""
    for line in text.split("\r\n"):
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "content-disposition":
            for param, val in _PARAM.findall(value):
                if param.lower() == "name":
                    name = val
                else:
                    filename = val
        elif key == "content-type":
            content_type = value.strip()
    if not name:
        raise _bad("A part of the form has no name.")
    return name, filename, content_type


async def open_upload(content_type: str, length: int | None, source: AsyncIterator[bytes]) -> Upload:
    """The form's head (fields, the file's first bytes); 413 beyond ``MAX_BODY_BYTES``."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadRequest("This endpoint takes multipart/form-data (the file and its fields).", code="invalid_content_type")
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise _bad("The Content-Type names no multipart boundary.")
    if length is not None and length > MAX_BODY_BYTES:
        raise too_large()
    upload = Upload(found.group(1).encode("latin-1"), source, length)
    await upload.read_head()
    return upload
