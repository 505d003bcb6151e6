"""The console's HTTP modules without a stack: who may do what (one ``authorize`` per
module), the playground's input checks, the edge it calls, and the page modules the shell
discovers."""

from __future__ import annotations

import pytest

from services.metering import dashboard
from services.metering.auth import Viewer
from services.metering.console import billing, channels, playground
from tollgate.errors import BadRequest, Forbidden
from tollgate.settings import Settings

ADMIN = Viewer(admin=True)
USER = Viewer(admin=False, account_id="acct_me")


def test_billing_authorization() -> None:
    assert billing.authorize(USER, "redeem") == "acct_me"
    assert billing.authorize(USER, "redeem", "acct_me") == "acct_me"
    with pytest.raises(Forbidden):
        billing.authorize(USER, "redeem", "acct_other")
    assert billing.authorize(ADMIN, "redeem", "acct_other") == "acct_other"
    with pytest.raises(BadRequest):
        billing.authorize(ADMIN, "redeem")  # the admin names the account
    for action in ("list_codes", "create_codes", "revoke_code"):
        assert billing.authorize(ADMIN, action) == ""
        with pytest.raises(Forbidden):
            billing.authorize(USER, action)
    with pytest.raises(Forbidden):
        billing.authorize(ADMIN, "drop_tables")


def test_channels_are_the_admins_and_tests_name_an_account() -> None:
    for action in ("list", "enable"):
        assert channels.authorize(ADMIN, action) == ""
        with pytest.raises(Forbidden):
            channels.authorize(USER, action)
    assert channels.authorize(ADMIN, "test", "acct_x") == "acct_x"
    with pytest.raises(BadRequest):
        channels.authorize(ADMIN, "test")
    with pytest.raises(Forbidden):
        channels.authorize(USER, "test", "acct_me")


def test_playground_authorization_and_input() -> None:
    assert playground.authorize(USER, None) == "acct_me"
    with pytest.raises(Forbidden):
        playground.authorize(USER, "acct_other")
    ok = playground.ChatBody(model="m", messages=[playground.Message("user", "hi")], max_tokens=5, stream=False, temperature=0.2)
    assert playground.check(ok) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "stream": False,
        "temperature": 0.2,
    }
    streamed = playground.check(playground.ChatBody(model="m", messages=[playground.Message("user", "hi")]))
    assert streamed["stream"] is True and streamed["stream_options"] == {"include_usage": True}
    for bad in (
        playground.ChatBody(model="", messages=[playground.Message("user", "hi")]),
        playground.ChatBody(model="m", messages=[]),
        playground.ChatBody(model="m", messages=[playground.Message("tool", "hi")]),
        playground.ChatBody(model="m", messages=[playground.Message("user", "x" * (playground.MAX_CHARS + 1))]),
        playground.ChatBody(model="m", messages=[playground.Message("user", "hi")], max_tokens=0),
    ):
        with pytest.raises(BadRequest):
            playground.check(bad)


def test_the_playground_calls_the_configured_edge() -> None:
    assert playground.edge_url(Settings(edge_host="0.0.0.0", edge_port=9000)) == "http://127.0.0.1:9000"
    assert playground.edge_url(Settings(edge_host="10.0.0.5", edge_port=9000)) == "http://10.0.0.5:9000"
    assert playground.edge_url(Settings(console_edge_url="https://edge.internal")) == "https://edge.internal"


def test_the_shell_discovers_marked_modules_only() -> None:
    modules = dashboard.console_modules()
    assert "admin-accounts.js" in modules
    assert not {"app.js", "api.js", "console.js", "account.js"} & set(modules)
    for name in modules:
        assert (dashboard.STATIC / name).read_text().startswith(dashboard.CONSOLE_MODULE_MARK)
