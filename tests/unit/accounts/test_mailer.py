"""The mailer: the outbox folder (one .eml per mail, 0600) and SMTP against a local aiosmtpd
server on a free port (plain, and with AUTH)."""

from __future__ import annotations

import email
import socket
import stat
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.accounts.mailer import Mail, OutboxMailer, SmtpMailer, SmtpTarget, create_mailer

SENDER = "Tollgate <no-reply@tollgate.test>"


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _authenticator(_server, _session, _envelope, mechanism, auth_data):
    login = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password)
    return AuthResult(success=login in (("mailer", "s3cret"), (b"mailer", b"s3cret")), handled=False)


@pytest.fixture
def smtp_server():
    sink = Sink()
    with socket.socket() as probe:  # a free port (the controller checks its server by connecting to the port it was given)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port, authenticator=_authenticator, auth_require_tls=False)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


async def test_outbox_writes_one_private_eml_per_mail(tmp_path: Path) -> None:
    outbox = tmp_path / "data" / "outbox"
    mailer = OutboxMailer(outbox, SENDER)
    await mailer.send(Mail("ada@example.com", "Confirm", "Open http://x/console/verify?token=tge_abc\n"))
    await mailer.send(Mail("bob@example.com", "Reset", "Body two\n"))
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 2 and not list(outbox.glob(".*"))  # no temporary file left
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    msgs = [email.message_from_bytes(f.read_bytes(), policy=default) for f in files]
    assert {m["To"] for m in msgs} == {"ada@example.com", "bob@example.com"}
    first = next(m for m in msgs if m["To"] == "ada@example.com")
    assert first["From"] == SENDER and first["Subject"] == "Confirm" and first["Message-ID"]
    assert "verify?token=tge_abc" in first.get_body(preferencelist=("plain",)).get_content()


async def test_smtp_delivers_to_a_local_server(smtp_server) -> None:
    sink, port = smtp_server
    await SmtpMailer(f"smtp://127.0.0.1:{port}", SENDER).send(Mail("ada@example.com", "Hello", "Body\n"))
    (sender, rcpts, content) = sink.messages[0]
    assert sender == "no-reply@tollgate.test" and rcpts == ["ada@example.com"]
    msg = email.message_from_bytes(content, policy=default)
    assert msg["Subject"] == "Hello" and msg.get_body(preferencelist=("plain",)).get_content().strip() == "Body"


async def test_smtp_with_login(smtp_server) -> None:
    sink, port = smtp_server
    await SmtpMailer(f"smtp://mailer:s3cret@127.0.0.1:{port}", SENDER).send(Mail("bob@example.com", "Hi", "x\n"))
    assert sink.messages[-1][1] == ["bob@example.com"]
    import smtplib

    with pytest.raises(smtplib.SMTPAuthenticationError):
        await SmtpMailer(f"smtp://mailer:wrong@127.0.0.1:{port}", SENDER).send(Mail("bob@example.com", "Hi", "x\n"))


def test_smtp_urls_and_the_choice_of_mailer(tmp_path: Path) -> None:
    t = SmtpTarget.parse("smtp://user%40x:p%3Ass@mail.example:2525?starttls=1")
    assert (t.host, t.port, t.tls, t.starttls, t.username, t.password) == ("mail.example", 2525, False, True, "user@x", "p:ss")
    assert SmtpTarget.parse("smtps://mail.example").port == 465 and SmtpTarget.parse("smtp://mail.example").port == 25
    with pytest.raises(ValueError, match="TOLLGATE_SMTP_URL"):
        SmtpTarget.parse("http://mail.example")
    assert isinstance(create_mailer("", tmp_path, SENDER), OutboxMailer)
    assert isinstance(create_mailer("smtp://127.0.0.1:25", tmp_path, SENDER), SmtpMailer)
