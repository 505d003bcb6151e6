"""Who the console's risk and budgets endpoints act as: a key or the admin token is passed on
as it is; a console session is role-checked and pinned to its organisation's account, with
metering's admin credential (services/metering/console/risk.py ``authority``, budgets.py
``authorize``)."""

from __future__ import annotations

import pytest
from litestar.testing import RequestFactory

from services.metering.auth import Viewer
from services.metering.console import budgets, risk
from tollgate import credentials
from tollgate.errors import BadRequest, Forbidden

ADMIN = "admin-credential-for-tests"
OWNER = Viewer(False, "acct_org", "usr_1", "org_1", "owner", "mem_1")
DEVELOPER = Viewer(False, "acct_org", "usr_2", "org_1", "developer", "mem_2")
VIEWER = Viewer(False, "acct_org", "usr_3", "org_1", "viewer", "mem_3")


def _request(authorization: str = ""):
    headers = {"authorization": authorization} if authorization else {}
    return RequestFactory().get("/console/api/risk/standing", headers=headers)


def test_a_key_or_the_admin_token_is_passed_on_as_it_is() -> None:
    metadata, account = risk.authority(None, "DecideReactivation", _request("Bearer sk-user-key"), ADMIN)
    assert metadata == credentials.bearer("sk-user-key") and account == ""
    assert risk.authority(Viewer(admin=True), "Act", _request(f"Bearer {ADMIN}"), ADMIN) == (credentials.bearer(ADMIN), "")


def test_a_session_acts_on_its_own_account_as_its_role_allows() -> None:
    for method in ("GetStanding", "ListRecords", "ListReactivations", "ListTickets", "GetTicket"):
        assert risk.authority(VIEWER, method, _request(), ADMIN) == (credentials.bearer(ADMIN), "acct_org")
    assert risk.authority(OWNER, "RequestReactivation", _request(), ADMIN)[1] == "acct_org"
    assert risk.authority(DEVELOPER, "OpenTicket", _request(), ADMIN)[1] == "acct_org"
    with pytest.raises(Forbidden) as denied:
        risk.authority(DEVELOPER, "RequestReactivation", _request(), ADMIN)  # owner or admin asks for reactivation
    assert denied.value.code == "role_forbidden"
    with pytest.raises(Forbidden) as denied:
        risk.authority(VIEWER, "OpenTicket", _request(), ADMIN)
    assert denied.value.code == "role_forbidden"
    for method in ("DecideReactivation", "Act", "ListRules"):  # the platform admin's, whatever the role
        with pytest.raises(Forbidden) as denied:
            risk.authority(OWNER, method, _request(), ADMIN)
        assert denied.value.code == "admin_required"
    with pytest.raises(Forbidden):  # without metering's admin credential a session gets nothing
        risk.authority(OWNER, "GetStanding", _request(), "")


def test_budgets_a_session_reads_and_an_owner_or_admin_changes_its_own_account() -> None:
    assert budgets.authorize("change", "sk-key") == ("sk-key", "")
    assert budgets.authorize("group", ADMIN, Viewer(admin=True), ADMIN) == (ADMIN, "")
    assert budgets.authorize("read", "tgs_session", VIEWER, ADMIN) == (ADMIN, "acct_org")
    assert budgets.authorize("change", "tgs_session", OWNER, ADMIN) == (ADMIN, "acct_org")
    assert budgets.authorize("change", "tgs_session", Viewer(False, "acct_org", role="admin"), ADMIN) == (ADMIN, "acct_org")
    for who in (DEVELOPER, VIEWER):
        with pytest.raises(Forbidden) as denied:
            budgets.authorize("change", "tgs_session", who, ADMIN)
        assert denied.value.code == "role_forbidden"
    with pytest.raises(Forbidden) as denied:
        budgets.authorize("group", "tgs_session", OWNER, ADMIN)  # the pricing group is the platform's
    assert denied.value.code == "admin_required"
    with pytest.raises(BadRequest):
        budgets.authorize("delete", "sk-key")


def test_billing_and_playground_hold_a_session_to_its_role() -> None:
    from services.metering.console import billing, playground

    billing_member = Viewer(False, "acct_org", "usr_4", "org_1", "billing", "mem_4")
    assert billing.authorize(OWNER, "redeem") == "acct_org" and billing.authorize(billing_member, "redeem") == "acct_org"
    for who in (DEVELOPER, VIEWER):
        with pytest.raises(Forbidden) as denied:
            billing.authorize(who, "redeem")
        assert denied.value.code == "role_forbidden"
    with pytest.raises(Forbidden):
        billing.authorize(OWNER, "create_codes")  # minting codes is the platform admin's
    assert playground.authorize(DEVELOPER, None) == "acct_org"
    for who in (VIEWER, billing_member):
        with pytest.raises(Forbidden) as denied:
            playground.authorize(who, None)
        assert denied.value.code == "role_forbidden"
    assert playground.authorize(Viewer(False, "acct_key"), None) == "acct_key"  # an API key acts as its account
