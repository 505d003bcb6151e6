"""A small encoder of AWS's binary event-stream framing (``application/vnd.amazon.eventstream``),
what Bedrock's ConverseStream answers with: per message a prelude (total length, headers
length, both big-endian uint32, and the prelude's CRC32), the headers (name length, name,
value type 7 = string, value length, value), the payload, and the CRC32 of all of it.
The edge reads it with botocore's parser; a unit test checks that they agree."""

from __future__ import annotations

import struct
from zlib import crc32

STRING = 7  # the header value type of a UTF-8 string
PRELUDE = 12  # total length, headers length, prelude CRC
TRAILER = 4  # the message CRC


def headers_bytes(headers: dict[str, str]) -> bytes:
    out = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", STRING, len(raw_value)) + raw_value
    return out


def frame(headers: dict[str, str], payload: bytes, *, corrupt: bool = False) -> bytes:
    """One message; ``corrupt`` spoils its message CRC (a frame the reader must refuse)."""
    head = headers_bytes(headers)
    total = PRELUDE + len(head) + len(payload) + TRAILER
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", crc32(body) ^ (0xFFFFFFFF if corrupt else 0))


def event(kind: str, payload: bytes, *, corrupt: bool = False) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, payload, corrupt=corrupt)


def exception(kind: str, payload: bytes) -> bytes:
    return frame({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}, payload)
