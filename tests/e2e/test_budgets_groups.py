"""Issue 17, budgets and pricing groups, through the running stack and real clients:

- a member's budget stops their keys with 402 ``budget_exceeded`` through leases: many
  concurrent requests on two edges and two keys of the member are debited at most the
  budget, and every 200 is one ledger debit and one usage row;
- a pricing group (tests/data/catalog_groups.toml: ``vip``, ×2.5, sim-1 and embed-*) shows
  only its models on every door's model list, bills the catalog's prices times its
  multiplier (``price_version`` says ``+group:vip``), and answers a model outside it like
  the seed: 503 ``{"error": {"code": "model_not_found", "message": "No available channel
  for model X under group vip", "type": "new_api_error"}}`` (the Anthropic and Gemini doors
  in their own shapes).
"""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from tests.e2e.test_balance import PRICE_IN, PRICE_OUT, eventually, usage_debits
from tests.e2e.test_cli import chat, cli, fails, new_account, tollgate, tollgate_json
from tests.e2e.test_spend_caps import settled, storm
from tollgate import credentials
from tollgate.pricing import cost_micros
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import budgets_pb2 as bpb
from tollgate.rpc import budgets_pb2_grpc

BUDGET = 10_000  # $0.01 a day for the member


@pytest.fixture(scope="module")
def budgets(stack, admin_token: str):
    with credentials.channel(stack.settings.accounts_addr, admin_token) as channel:
        yield budgets_pb2_grpc.BudgetsStub(channel)


def org(accounts) -> str:
    account = accounts.CreateAccount(pb.CreateAccountRequest(name="org", initial_balance_micros=10_000_000, skip_trial_credit=True))
    return account.account_id


def key(accounts, account_id: str, member: str = "", team: str = "") -> pb.CreatedKey:
    return accounts.CreateKey(pb.CreateKeyRequest(account_id=account_id, rpm_limit=-1, member_id=member, team_id=team))


def test_a_member_budget_stops_their_keys_with_402_on_two_edges(stack, accounts, budgets):
    account_id = org(accounts)
    mine = [key(accounts, account_id, "mem_dev", "team_a"), key(accounts, account_id, "mem_dev", "team_a")]
    colleague = key(accounts, account_id, "mem_other", "team_a")
    budgets.SetBudget(bpb.SetBudgetRequest(account_id=account_id, scope="member", subject_id="mem_dev", day_micros=BUDGET))
    urls = [stack.edge_url, f"http://127.0.0.1:{stack.ports.edge2}/v1"]
    results = storm(urls, [k.secret for k in mine], 100)
    succeeded = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if not isinstance(r, int)]
    assert set(refused) == {"402 budget_exceeded"}, set(refused)
    assert len(succeeded) >= 5 and len(succeeded) + len(refused) == 100
    debits = settled(stack, accounts, account_id, succeeded)  # 200s = ledger debits = usage rows
    # The bound (docs/balance-leases.md): budget + Σ (actual − hold)⁺ + lapsed leases' undebited
    # spend; both extra terms are 0 here, so within "budget + one lease" with room to spare.
    assert sum(debits) <= BUDGET, f"{sum(debits)} µUSD debited against a budget of {BUDGET}"
    listed = {b.subject_id: b for b in budgets.ListBudgets(bpb.ListBudgetsRequest(account_id=account_id)).budgets}
    assert listed["mem_dev"].spent_day_micros == sum(debits) and listed["mem_dev"].day_micros == BUDGET
    print(f"member budget {BUDGET} µUSD: {len(succeeded)} succeeded ({sum(debits)} µUSD), {len(refused)} got 402")

    # The 402 is OpenAI's shape, with a message that says what to do.
    # mine[0], like mine[1] below, may still hold the rest of a lease on this edge: within the budget.
    client = openai.OpenAI(base_url=stack.edge_url, api_key=mine[0].secret, max_retries=0)
    refusal = until_refused(lambda: _status(client))
    assert refusal.status_code == 402
    assert refusal.body["code"] == "budget_exceeded" and refusal.body["type"] == "insufficient_quota"
    assert "budget" in refusal.body["message"]
    # ...and each door's own shape on the Anthropic and Gemini doors.
    # mine[1] may still hold the rest of a lease on this edge from the storm: what is left is
    # within the budget, so a few more 200s are allowed before the refusal.
    anthropic_answer = until_refused(
        lambda: httpx.post(
            stack.edge_url + "/messages",
            headers={"x-api-key": mine[1].secret, "anthropic-version": "2023-06-01"},
            json={"model": "sim-1", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
        )
    )
    assert anthropic_answer.status_code == 402 and anthropic_answer.json()["error"]["type"] == "billing_error"
    assert "budget" in anthropic_answer.json()["error"]["message"]
    gemini_answer = until_refused(
        lambda: httpx.post(
            stack.edge_url.removesuffix("/v1") + "/gemini/v1beta/models/sim-1:generateContent",
            headers={"x-goog-api-key": mine[1].secret},
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 50}},
        )
    )
    assert gemini_answer.status_code == 402 and gemini_answer.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    # Another member of the same account and team is not stopped by it...
    other = openai.OpenAI(base_url=stack.edge_url, api_key=colleague.secret, max_retries=0)
    assert other.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=5).usage
    # ...until their team's budget, already spent by mem_dev, covers them too.
    budgets.SetBudget(bpb.SetBudgetRequest(account_id=account_id, scope="team", subject_id="team_a", day_micros=sum(debits)))
    with pytest.raises(openai.APIStatusError) as team_err:
        eventually(
            lambda: other.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=5) and None
        )
    assert team_err.value.status_code == 402 and team_err.value.body["code"] == "budget_exceeded"
    # Raising the member's budget (and lifting the team's) lets the member go on.
    budgets.SetBudget(bpb.SetBudgetRequest(account_id=account_id, scope="team", subject_id="team_a"))
    budgets.SetBudget(bpb.SetBudgetRequest(account_id=account_id, scope="member", subject_id="mem_dev", day_micros=10 * BUDGET))
    answer = eventually(lambda: _try(client))
    assert answer.usage.completion_tokens == 50


def until_refused(post, tries: int = 10):
    """The first answer that is not a 200, within a few tries (a lease's remainder is spent first)."""
    for _ in range(tries):
        answer = post()
        if answer.status_code != 200:
            return answer
    return answer


def _status(client: openai.OpenAI) -> httpx.Response | openai.APIStatusError:
    """One chat call: a 200 as a response with that status, a refusal as the SDK's error (which has a status_code)."""
    try:
        client.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=50)
    except openai.APIStatusError as exc:
        return exc
    return httpx.Response(200)


def _try(client: openai.OpenAI):
    try:
        return client.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=50)
    except openai.APIStatusError:
        return None


def test_a_pricing_group_shows_its_models_bills_its_prices_and_refuses_the_rest(stack, accounts, budgets):
    account_id = org(accounts)
    k = key(accounts, account_id)
    client = openai.OpenAI(base_url=stack.edge_url, api_key=k.secret, max_retries=0)
    assert "sim-failover" in {m.id for m in client.models.list()}  # default group: every model
    budgets.SetAccountGroup(bpb.SetAccountGroupRequest(account_id=account_id, group="vip"))
    assert accounts.GetAccount(pb.GetAccountRequest(account_id=account_id)).price_group == "vip"

    # /v1/models on every door: only the group's models.
    def group_list() -> set[str] | None:
        ids = {m.id for m in client.models.list()}
        return ids if "sim-failover" not in ids else None

    shown = eventually(group_list)
    assert {"sim-1", "embed-1"} <= shown and not any(m.startswith(("sim-", "contract-", "fault-")) and m != "sim-1" for m in shown), shown
    base = stack.edge_url.removesuffix("/v1")
    anthropic_list = httpx.get(stack.edge_url + "/models", headers={"x-api-key": k.secret, "anthropic-version": "2023-06-01"}).json()
    assert {m["id"] for m in anthropic_list["data"]} <= shown and "sim-1" in {m["id"] for m in anthropic_list["data"]}
    gemini_list = httpx.get(base + "/gemini/v1beta/models", params={"pageSize": 1000}, headers={"x-goog-api-key": k.secret}).json()
    assert {m["name"].removeprefix("models/") for m in gemini_list["models"]} == shown

    # A model in the group: billed at the catalog's price × 2.5, the group in price_version.
    raw = client.chat.completions.with_raw_response.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=20)
    answer = raw.parse()
    expected = cost_micros(answer.usage.prompt_tokens, answer.usage.completion_tokens, PRICE_IN * 2_500_000, PRICE_OUT * 2_500_000)
    assert expected > cost_micros(answer.usage.prompt_tokens, answer.usage.completion_tokens, PRICE_IN * 10**6, PRICE_OUT * 10**6)
    assert eventually(lambda: usage_debits(accounts, account_id)) == [expected]
    request_id = raw.headers["x-request-id"]
    row = eventually(
        lambda: (
            (r := httpx.get(f"{stack.metering_url}/v1/requests/{request_id}", headers=stack.admin_headers)).status_code == 200 and r.json()
        )
    )
    assert (row["price_version"], row["cost_micros"]) == ("test-1+group:vip", expected)

    # A model outside the group: the seed's answer, in each door's shape.
    message = "No available channel for model sim-failover under group vip"
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="sim-failover", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
    assert err.value.status_code == 503
    assert {k: err.value.body[k] for k in ("code", "message", "type")} == {
        "code": "model_not_found",
        "message": message,
        "type": "new_api_error",
    }
    raw_openai = httpx.post(
        stack.edge_url + "/chat/completions",
        headers={"authorization": f"Bearer {k.secret}"},
        json={"model": "sim-failover", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert raw_openai.status_code == 503
    assert raw_openai.json()["error"] | {"param": None} == {
        "code": "model_not_found",
        "message": message,
        "type": "new_api_error",
        "param": None,
    }
    anthropic_answer = httpx.post(
        stack.edge_url + "/messages",
        headers={"x-api-key": k.secret, "anthropic-version": "2023-06-01"},
        json={"model": "sim-failover", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert anthropic_answer.status_code == 503
    assert anthropic_answer.json() == {"type": "error", "error": {"type": "overloaded_error", "message": message}}
    gemini_answer = httpx.post(
        base + "/gemini/v1beta/models/sim-failover:generateContent",
        headers={"x-goog-api-key": k.secret},
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert gemini_answer.status_code == 503
    assert gemini_answer.json() == {"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}}
    # Nothing was billed for the refusals; an unknown model is still the providers' 404.
    assert usage_debits(accounts, account_id) == [expected]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}], max_tokens=5)

    # Back in the default group: every model, the catalog's prices.
    budgets.SetAccountGroup(bpb.SetAccountGroupRequest(account_id=account_id, group="default"))
    assert eventually(lambda: "sim-failover" in {m.id for m in client.models.list()})


def test_the_cli_lists_groups_sets_a_group_and_manages_budgets(stack):
    listed = tollgate(stack, "groups", "list")
    assert re.search(r"^vip\s+5/2\s+sim-1, embed-\*$", listed, re.M), listed
    assert re.search(r"^default\s+1\s+\*$", listed, re.M), listed
    account_id = new_account(stack, "cli-org")
    assert tollgate(stack, "groups", "set", account_id, "vip").strip() == f"account {account_id} is in group vip"
    assert tollgate_json(stack, "accounts", "show", account_id)["price_group"] == "vip"
    assert "group must be a group name" in fails(stack, "groups", "set", account_id, "not a group", "--force")
    assert "the catalog has no group 'vipp' (known: default, vip)" in cli(stack, "groups", "set", account_id, "vipp").stderr
    assert tollgate_json(stack, "accounts", "show", account_id)["price_group"] == "vip"  # unchanged

    created = tollgate_json(stack, "keys", "create", account_id, "--member", "mem_cli", "--team", "team_cli")
    assert (created["key"]["member_id"], created["key"]["team_id"]) == ("mem_cli", "team_cli")
    assert "member mem_cli, team team_cli" in tollgate(stack, "keys", "list", account_id)
    out = tollgate(stack, "budgets", "set", account_id, "member", "mem_cli", "--day", "0.01", "--month", "2")
    assert out.strip() == f"member mem_cli of account {account_id}: budget $0.01/day, $2.00/month"
    assert "--day and/or --month" in cli(stack, "budgets", "set", account_id, "team", "team_cli").stderr
    assert chat(stack, created["secret"])  # within the budget
    table = tollgate(stack, "budgets", "list", account_id)
    assert re.search(r"^member\s+mem_cli\s+\$0\.01\s+\$0\.\d+\s+\$2\.00\s+\$0\.\d+\s+\$0\.\d+$", table, re.M), table
    as_json = eventually(
        lambda: (b := tollgate_json(stack, "budgets", "list", account_id)["budgets"]) and b[0].get("spent_day_micros") and b
    )
    assert as_json[0]["day_micros"] == 10_000 and as_json[0]["spent_day_micros"] > 0
    # The member's own key can read its account's budgets, not change them.
    own = tollgate_json(stack, "budgets", "list", TOLLGATE_API_KEY=created["secret"])["budgets"]
    assert [b["subject_id"] for b in own] == ["mem_cli"]
    assert "admin" in fails(stack, "budgets", "set", account_id, "member", "mem_cli", "--day", "100", TOLLGATE_API_KEY=created["secret"])
    assert tollgate(stack, "budgets", "remove", account_id, "member", "mem_cli").strip().endswith("no budget")
    assert tollgate(stack, "budgets", "list", account_id).strip() == "no budgets"


def test_the_console_api_sets_and_lists_budgets_and_groups(stack, accounts):
    account_id = org(accounts)
    k = key(accounts, account_id, "mem_web")
    api = f"{stack.metering_url}/console/api"
    user = {"authorization": f"Bearer {k.secret}"}
    body = {"account_id": account_id, "scope": "member", "subject_id": "mem_web", "day_micros": 20_000}
    # A member's key may read its account's budgets but not change them; the admin may.
    refused = httpx.put(f"{api}/budgets", json=body, headers=user)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_required"
    saved = httpx.put(f"{api}/budgets", json=body, headers=stack.admin_headers)
    assert saved.status_code == 200 and (saved.json()["subject_id"], saved.json()["day_micros"]) == ("mem_web", 20_000)
    bad = httpx.put(f"{api}/budgets", json=body | {"scope": "company"}, headers=stack.admin_headers)
    assert bad.status_code == 400 and "scope" in bad.json()["error"]["message"]
    unknown = httpx.put(f"{api}/budgets", json=body | {"extra": 1}, headers=stack.admin_headers)
    assert unknown.status_code == 400
    client = openai.OpenAI(base_url=stack.edge_url, api_key=k.secret, max_retries=0)
    usage = client.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=5).usage

    def spent() -> list | None:
        budgets = httpx.get(f"{api}/budgets", headers=user).json()["budgets"]
        return budgets if budgets and budgets[0]["spent_day_micros"] else None

    (listed,) = eventually(spent)
    cost = usage.prompt_tokens * PRICE_IN + usage.completion_tokens * PRICE_OUT
    assert listed["day_micros"] == 20_000 and listed["spent_day_micros"] == cost
    assert httpx.get(f"{api}/budgets", params={"account_id": "acct_other"}, headers=user).status_code == 403
    # Groups: the admin sees every group; a user key only its own account's.
    everything = httpx.get(f"{api}/groups", headers=stack.admin_headers).json()
    assert {g["name"] for g in everything["data"]} == {"default", "vip"} and everything["group"] is None
    vip = next(g for g in everything["data"] if g["name"] == "vip")
    assert (vip["multiplier"], vip["models"]) == ("5/2", ["sim-1", "embed-*"])
    assert httpx.get(f"{api}/groups", headers=user).json() == {
        "data": [{"name": "default", "multiplier": "1", "multiplier_numerator": 1, "multiplier_denominator": 1, "models": ["*"]}],
        "group": "default",
    }
    assert httpx.put(f"{api}/accounts/{account_id}/group", json={"group": "vip"}, headers=user).status_code == 403
    typo = httpx.put(f"{api}/accounts/{account_id}/group", json={"group": "vipp"}, headers=stack.admin_headers)
    assert typo.status_code == 400 and typo.json()["error"]["code"] == "unknown_group"
    moved = httpx.put(f"{api}/accounts/{account_id}/group", json={"group": "vip"}, headers=stack.admin_headers)
    assert moved.status_code == 200 and moved.json() == {"account_id": account_id, "group": "vip"}
    assert eventually(lambda: httpx.get(f"{api}/groups", headers=user).json()["group"] == "vip")
    assert httpx.get(f"{api}/groups").status_code == 401
    # The console's key creation names the key's member and team (a member's key: its own).
    created = httpx.post(f"{stack.metering_url}/v1/keys", json={"name": "web"}, headers=user)
    assert created.status_code == 201 and created.json()["key"]["member_id"] == "mem_web"
    named = httpx.post(
        f"{stack.metering_url}/v1/keys",
        params={"account_id": account_id},
        json={"name": "t", "member_id": "mem_x", "team_id": "team_x"},
        headers=stack.admin_headers,
    )
    assert named.status_code == 201 and (named.json()["key"]["member_id"], named.json()["key"]["team_id"]) == ("mem_x", "team_x")
    other = httpx.post(f"{stack.metering_url}/v1/keys", json={"name": "x", "member_id": "mem_x"}, headers=user)
    assert other.status_code == 403
