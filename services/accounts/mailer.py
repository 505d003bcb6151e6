"""Outgoing mail (verification, password reset, invitations).

By default every mail is written to an outbox folder (``<data_dir>/outbox``, one ``.eml``
file per mail, mode 0600), which is what a developer or a test reads; with
``TOLLGATE_SMTP_URL`` (``smtp://[user:password@]host[:port][?starttls=1]`` or
``smtps://…``) mails go to that SMTP server instead. The links in a mail carry one-time
tokens: mails are never logged, only that one was sent (to whom is not logged either).
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from tollgate.files import FILE_MODE, private_dir


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


def message(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="tollgate.local")
    msg.set_content(mail.body)
    return msg


class OutboxMailer:
    """Writes each mail as ``<ms>-<random>.eml`` into ``directory`` (atomically: a reader never sees half a file)."""

    def __init__(self, directory: Path, sender: str):
        self.directory = directory
        self._sender = sender

    async def send(self, mail: Mail) -> None:
        await asyncio.to_thread(self._write, message(mail, self._sender).as_bytes())

    def _write(self, data: bytes) -> None:
        private_dir(self.directory)
        name = f"{time.time_ns() // 1_000_000}-{uuid.uuid4().hex[:12]}.eml"
        tmp = self.directory / f".{name}.tmp"
        with open(tmp, "wb", opener=lambda path, flags: os.open(path, flags, FILE_MODE)) as fh:
            fh.write(data)
        tmp.rename(self.directory / name)


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool  # implicit TLS (smtps://)
    starttls: bool
    username: str
    password: str

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("TOLLGATE_SMTP_URL must look like smtp://[user:password@]host[:port][?starttls=1] or smtps://…")
        query = parse_qs(parts.query)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
        )


class SmtpMailer:
    def __init__(self, url: str, sender: str, timeout_s: float = 10.0):
        self._target = SmtpTarget.parse(url)
        self._sender = sender
        self._timeout = timeout_s

    async def send(self, mail: Mail) -> None:
        await asyncio.to_thread(self._send, message(mail, self._sender))

    def _send(self, msg: EmailMessage) -> None:
        t = self._target
        if t.tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(t.host, t.port, timeout=self._timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(t.host, t.port, timeout=self._timeout)
        with smtp:
            if t.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if t.username:
                smtp.login(t.username, t.password)
            smtp.send_message(msg)


def create_mailer(smtp_url: str, outbox: Path, sender: str) -> OutboxMailer | SmtpMailer:
    return SmtpMailer(smtp_url, sender) if smtp_url else OutboxMailer(outbox, sender)
