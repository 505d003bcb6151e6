"""Multipart uploads relayed as they arrive (services/edge/uploads.py), their durations
(services/edge/frontends/openai/uploads.py) and the upstream client's streamed bodies."""

from __future__ import annotations

import asyncio
import io
import struct
import wave

import pytest

from services.edge import uploads
from services.edge.frontends.openai.uploads import FLOOR_BYTES_PER_S, check_edit, check_transcription, held_ms, reported_ms, wav_ms
from services.edge.http_client import Client, LocalProtocolError, Timeouts
from tollgate.errors import BadRequest, PayloadTooLarge
from tollgate.providers.base import Streamed

B = "----b0und"


def form(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]], after: list[tuple[str, str]] = ()) -> bytes:
    out = b""
    for name, value in fields:
        out += f'--{B}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, filename, data in files:
        out += f'--{B}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: audio/wav\r\n\r\n'.encode()
        out += data + b"\r\n"
    for name, value in after:
        out += f'--{B}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    return out + f"--{B}--\r\n".encode()


async def pieces(data: bytes, size: int = 1000):
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def opened(data: bytes, size: int = 1000, length: int | None = -1) -> uploads.Upload:
    return await uploads.open_upload(
        f"multipart/form-data; boundary={B}", len(data) if length == -1 else length, pieces(data, size).__aiter__()
    )


async def drain(body: Streamed) -> bytes:
    return b"".join([piece async for piece in body.pieces])


def wav(ms: int, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x02" * (rate * ms // 1000))
    return out.getvalue()


@pytest.mark.parametrize("size", [1, 7, 1000, 1 << 20])
async def test_fields_before_the_file_are_read_and_the_rest_relayed_verbatim(size):
    audio = bytes(range(256)) * 400  # 100 KiB: more than the sniffed head
    data = form([("model", "whisper-1"), ("response_format", "srt")], [("file", "a.wav", audio)], after=[("language", "en")])
    upload = await opened(data, size)
    assert upload.fields == {"model": "whisper-1", "response_format": "srt"}
    assert (upload.file_field, upload.filename, upload.content_type) == ("file", "a.wav", "audio/wav")
    assert upload.head == audio[: uploads.SNIFF_BYTES] and not upload.file_complete
    body = upload.body({"model": "sim-whisper", "response_format": "srt"})
    sent = await drain(body)
    assert sent == form([("model", "sim-whisper"), ("response_format", "srt")], [("file", "a.wav", audio)], after=[("language", "en")])
    assert body.length == len(sent)  # the client's length, re-framed exactly
    with pytest.raises(uploads.Consumed):
        upload.body({})  # read once: never kept for another channel


async def test_a_body_never_sent_leaves_the_upload_for_the_next_channel():
    upload = await opened(form([("model", "m")], [("file", "a.wav", b"RIFFdata")]))
    upload.body({"model": "first"})  # built, but its channel refused the connection: never iterated
    assert await drain(upload.body({"model": "second"})) == form([("model", "second")], [("file", "a.wav", b"RIFFdata")])


@pytest.mark.parametrize("size", [3, 1 << 20])
async def test_a_file_before_model_is_held_until_model_arrives_then_relayed_after_the_fields(size):
    audio = b"RIFF" + bytes(range(256)) * 300
    data = form([], [("file", "a.wav", audio)], after=[("response_format", "vtt"), ("model", "whisper-1")])
    upload = await opened(data, size)
    assert upload.fields == {"response_format": "vtt", "model": "whisper-1"} and upload.file_bytes == len(audio)
    assert upload.head == audio[: uploads.SNIFF_BYTES]
    body = upload.body({"response_format": "vtt", "model": "sim"})
    sent = await drain(body)
    assert sent == form([("response_format", "vtt"), ("model", "sim")], [("file", "a.wav", audio)])
    assert body.length == len(sent)


async def test_a_small_file_is_whole_in_the_head_and_without_a_length_the_body_is_chunked():
    data = form([("model", "m")], [("file", "a.wav", b"RIFFxx")])
    upload = await opened(data, length=None)
    assert upload.head == b"RIFFxx" and upload.file_complete and upload.file_bytes == 6
    body = upload.body({"model": "u"})
    assert body.length is None and await drain(body) == form([("model", "u")], [("file", "a.wav", b"RIFFxx")])


@pytest.mark.parametrize(
    ("content_type", "data", "code"),
    [
        ("application/json", b"{}", "invalid_content_type"),
        ("multipart/form-data", b"", "invalid_multipart"),
        (f"multipart/form-data; boundary={B}", b"no parts here", "invalid_multipart"),
        (f"multipart/form-data; boundary={B}", form([("model", "m")], []), "missing_file"),
        (f"multipart/form-data; boundary={B}", form([("model", "m")], [("file", "a.wav", b"")]), "empty_file"),
        (f"multipart/form-data; boundary={B}", form([("model", "x" * 70_000)], [("file", "a", b"1")]), "invalid_multipart"),
    ],
)
async def test_malformed_forms_are_400s(content_type, data, code):
    with pytest.raises(BadRequest) as err:
        await uploads.open_upload(content_type, len(data), pieces(data).__aiter__())
    assert err.value.code == code


async def test_over_the_limit_is_a_413_announced_or_streamed():
    with pytest.raises(PayloadTooLarge):
        await uploads.open_upload(f"multipart/form-data; boundary={B}", uploads.MAX_BODY_BYTES + 1, pieces(b"").__aiter__())
    big = form([("model", "m")], [("file", "a.wav", b"\0" * (uploads.MAX_BODY_BYTES + 1))])
    upload = await opened(big, size=1 << 20, length=None)  # no length: counted as it streams
    with pytest.raises(PayloadTooLarge):
        await drain(upload.body({"model": "m"}))


def test_a_wavs_duration_from_its_header():
    assert wav_ms(wav(3500), 0) == 3500
    assert wav_ms(wav(1001, rate=3), 0) == 1000  # 3 frames at 3 Hz
    assert wav_ms(b"ID3\x04" + b"\0" * 100, 0) is None  # an mp3
    open_ended = bytearray(wav(1000))
    open_ended[40:44] = struct.pack("<I", 0xFFFFFFFF)  # a streamed WAV: its data runs to the file's end
    assert wav_ms(bytes(open_ended[:44]), 44 + 16_000) == 1000
    fmt_only = wav(1000)[:36]  # the data chunk is past what was read
    assert wav_ms(fmt_only, 100_000) is None


async def test_the_hold_is_the_wavs_duration_else_bounded_by_size():
    upload = await opened(form([("model", "m")], [("file", "a.wav", wav(2000))]))
    assert held_ms(upload) == (2000, True)
    mp3 = b"ID3" + b"\0" * 9_997
    upload = await opened(form([("model", "m")], [("file", "a.mp3", mp3)]))
    assert held_ms(upload) == (10_000 * 1000 // FLOOR_BYTES_PER_S, False)


def test_the_duration_an_answer_reports():
    assert reported_ms(b'{"text": "x", "duration": 3.25}', "verbose_json") == 3250
    assert reported_ms(b'{"text": "x", "usage": {"type": "duration", "seconds": 4}}', "json") == 4000
    assert reported_ms(b"1\n00:00:00,000 --> 00:00:01,000\na\n\n2\n00:01:01,000 --> 00:01:02,500\nb\n", "srt") == 62_500
    assert reported_ms(b"WEBVTT\n\n00:00:00.000 --> 00:00:00.750\na\n", "vtt") == 750
    assert reported_ms(b"just text", "text") is None
    assert reported_ms(b"{not json", "json") is None


def test_form_fields_are_checked():
    assert check_transcription({"model": "w", "response_format": "vtt"}) == {"model": "w", "response_format": "vtt"}
    for fields, code in [
        ({}, "missing_model"),
        ({"model": "w", "response_format": "docx"}, "invalid_response_format"),
        ({"model": "w", "temperature": "2"}, "invalid_temperature"),
    ]:
        with pytest.raises(BadRequest) as err:
            check_transcription(fields)
        assert err.value.code == code
    assert check_edit({"model": "i", "prompt": "p", "n": "3", "size": "256x256"}) == {"model": "i", "n": 3, "size": "256x256"}
    for fields, code in [({"model": "i"}, "invalid_prompt"), ({"model": "i", "prompt": "p", "n": "11"}, "invalid_n")]:
        with pytest.raises(BadRequest) as err:
            check_edit(fields)
        assert err.value.code == code


class Sink:
    """A server that reads a request's body (Content-Length or chunked) slowly, then answers its size."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        headers = {k.lower(): v.strip() for k, v in (f.split(":", 1) for f in head.decode().split("\r\n")[1:-2])}
        body = b""
        if "content-length" in headers:
            while len(body) < int(headers["content-length"]):
                body += await reader.read(65536)
                await asyncio.sleep(self.delay)
        else:
            while (size := int((await reader.readuntil(b"\r\n")).strip(), 16)) != 0:
                body += (await reader.readexactly(size + 2))[:-2]
                await asyncio.sleep(self.delay)
            await reader.readuntil(b"\r\n")
        self.bodies.append(body)
        self.headers.append(headers)
        answer = str(len(body)).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
        await writer.drain()
        writer.close()


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
async def test_a_streamed_body_is_sent_as_produced_within_the_sockets_buffers(length):
    sink = Sink(delay=0.002)
    server = await asyncio.start_server(sink.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    piece, count = b"x" * 65536, 200  # 12.5 MiB

    async def source():
        for _ in range(count):
            yield piece

    client = Client(Timeouts(connect=2, read=10, idle=10), max_connections=1, trust_env=False)
    body = Streamed(source(), len(piece) * count if length else None)
    response = await client.request("POST", f"http://127.0.0.1:{port}/up", {}, body)
    assert await response.aread() == str(len(piece) * count).encode()
    await response.aclose()
    assert sink.bodies == [piece * count]
    assert ("content-length" in sink.headers[0]) == length and ("transfer-encoding" in sink.headers[0]) != length
    with pytest.raises(LocalProtocolError):  # a body shorter than it announced
        await client.request("POST", f"http://127.0.0.1:{port}/up", {}, Streamed(pieces(b"abc"), 10))
    await client.aclose()
    server.close()


async def test_mangled_forms_are_400s_or_relayed_never_another_error():
    """Random cuts, flips and insertions into a valid form: each is refused as a 400 or read and relayed whole."""
    import random

    rng = random.Random(18)
    valid = form([("model", "whisper-1"), ("response_format", "srt")], [("file", "a.wav", wav(200))], after=[("language", "en")])
    tokens = [b"\r\n", b"--", B.encode(), b'"', b"name=", b"filename=", b"\r\n\r\n", b"\0", b"\xff", b";"]
    for _ in range(1500):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.3:
                del data[at : at + rng.randint(1, 40)]
            elif choice < 0.6:
                data[at:at] = rng.choice(tokens)
            else:
                data[at] = rng.randrange(256)
        try:
            upload = await opened(bytes(data), size=rng.choice([1, 5, 64, 4096]))
        except BadRequest:
            continue
        sent = await drain(upload.body({**upload.fields, "model": "u"}))
        assert sent.endswith(bytes(data)[upload._resume :])  # the rest of the form, verbatim
