"""The risk rules file: parsing, validation with clear errors, hot reload; the windows."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from services.accounts.risk import rules, windows
from services.accounts.risk.tickets import Recent
from tollgate import events

ROOT = Path(__file__).resolve().parents[3]


def test_the_example_file_loads_every_kind() -> None:
    loaded = rules.load(ROOT / "config" / "risk.example.toml")
    assert [rules.kind_of(r) for r in loaded.rules] == ["sensitive_rpm", "error_rate", "spend_velocity", "auth_failures"]
    assert loaded.deactivation.records == 3 and loaded.tickets.keep_s == 1_209_600
    assert all(r.describe() for r in loaded.rules)


def test_a_missing_file_means_no_rules(tmp_path) -> None:
    assert rules.load(tmp_path / "absent.toml").rules == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[[rules]]\nname = "a"\nkind = "nope"\n', "rule kinds: sensitive_rpm"),
        ('[[rules]]\nname = "a"\nkind = "sensitive_rpm"\n', "missing required field `threshold`"),
        ('[[rules]]\nname = "a"\nkind = "sensitive_rpm"\nthreshold = 0\n', "threshold must be positive"),
        ('[[rules]]\nname = "a"\nkind = "sensitive_rpm"\nthreshold = 5\naction = "ban"\n', "action must be one of"),
        ('[[rules]]\nname = "a"\nkind = "sensitive_rpm"\nthreshold = 5\naction = "throttle"\n', "throttle needs throttle_rpm"),
        ('[[rules]]\nname = "a"\nkind = "error_rate"\nthreshold = 2\n', "fraction between 0 and 1"),
        ('[[rules]]\nname = "a"\nkind = "spend_velocity"\nfactor = 0.5\n', "factor must be above 1"),
        ('[[rules]]\nname = "a"\nkind = "auth_failures"\nthreshold = 3\naction = "suspend"\n', "can only warn"),
        ('[[rules]]\nname = "a"\nkind = "sensitive_rpm"\nthreshold = 5\ntypo = 1\n', "unknown field"),
        (
            '[[rules]]\nname = "a"\nkind = "sensitive_rpm"\nthreshold = 5\n[[rules]]\nname = "a"\nkind = "error_rate"\nthreshold = 0.5\n',
            "unique",
        ),
        ('[deactivation]\nactions = ["explode"]\n', "unknown actions explode"),
        ("[[rules]\n", "not valid TOML"),
    ],
)
def test_bad_files_are_refused_with_a_clear_error(text: str, says: str) -> None:
    with pytest.raises(rules.RulesError, match=None) as err:
        rules.parse(text.encode())
    assert says in str(err.value)


def test_the_watcher_reloads_and_keeps_the_rules_in_force_on_a_bad_file(tmp_path) -> None:
    path = tmp_path / "risk.toml"
    watcher = rules.RulesWatcher(path, structlog.get_logger())
    assert watcher.current.rules == [] and not watcher.check()
    path.write_text('[[rules]]\nname = "a"\nkind = "sensitive_rpm"\nthreshold = 5\n')
    assert watcher.check() and [r.name for r in watcher.current.rules] == ["a"]
    path.write_text('[[rules]]\nname = "a"\nkind = "sensitive_rpm"\n')
    assert not watcher.check() and [r.name for r in watcher.current.rules] == ["a"]
    assert "threshold" in watcher.error
    path.unlink()
    assert watcher.check() and watcher.current.rules == [] and watcher.error == ""


def usage(account: str = "acct_a", at: int = 1_000_000, **kw) -> events.UsageEvent:
    return events.UsageEvent(request_id=kw.pop("request_id", f"r{at}"), occurred_at_ms=at, account_id=account, key_id="k", **kw)


def test_sensitive_rpm_counts_only_high_sensitivity_requests_within_its_window() -> None:
    (evaluator,) = windows.evaluators([rules.SensitiveRpm(name="s", threshold=3, window_s=60)])
    assert all(evaluator.usage(usage(at=1_000 + i)) is None for i in range(10))  # normal models: never
    trips = [evaluator.usage(usage(at=2_000 + i, sensitivity="high")) for i in range(4)]
    assert trips[:3] == [None] * 3 and trips[3] is not None
    assert trips[3].figures["requests"] == 4 and trips[3].account_id == "acct_a"
    assert evaluator.usage(usage(at=2_000 + 61_000, sensitivity="high")) is None  # the window moved on
    assert evaluator.usage(usage("acct_b", at=70_000, sensitivity="high")) is None  # per account
    for i in range(3):
        evaluator.usage(usage("acct_c", at=80_000 + i, sensitivity="high"))
    evaluator.forget("acct_c")
    assert evaluator.usage(usage("acct_c", at=80_010, sensitivity="high")) is None


def test_error_rate_needs_enough_requests_and_a_high_share_of_failures() -> None:
    (evaluator,) = windows.evaluators([rules.ErrorRate(name="e", threshold=0.5, min_requests=4, window_s=60)])
    assert evaluator.usage(usage(at=1, status=500)) is None
    assert evaluator.usage(usage(at=2, status=502)) is None
    assert evaluator.usage(usage(at=3, status=200)) is None
    trip = evaluator.usage(usage(at=4, status=503))
    assert trip is not None and trip.figures == {"requests": 4, "failed": 3, "rate": 0.75, "threshold": 0.5}


def test_spend_velocity_compares_with_the_accounts_own_history() -> None:
    rule = rules.SpendVelocity(name="v", factor=5, window_s=60, history_s=600, min_history=3, min_spend_micros=100)
    (evaluator,) = windows.evaluators([rule])
    for minute in range(4):
        assert evaluator.usage(usage(at=minute * 60_000 + 1, cost_micros=100)) is None  # steady $0.0001 a minute
    assert evaluator.usage(usage(at=4 * 60_000 + 1, cost_micros=300)) is None  # 3x: under 5x
    trip = evaluator.usage(usage(at=4 * 60_000 + 2, cost_micros=300))
    assert trip is not None and trip.figures["spend_micros"] == 600 and trip.figures["mean_micros"] == 100
    (fresh,) = windows.evaluators([rule])
    assert fresh.usage(usage("acct_new", at=1, cost_micros=10**9)) is None  # no history: nothing to compare with


def test_auth_failures_per_address_and_per_account() -> None:
    per_address, per_account = windows.evaluators(
        [
            rules.AuthFailures(name="a", threshold=2, window_s=60),
            rules.AuthFailures(name="b", threshold=2, window_s=60, per="account", action="suspend"),
        ]
    )
    failures = [events.AuthFailed(occurred_at_ms=1_000 + i, address="10.0.0.9", key_hint="abc", account_id="acct_x") for i in range(3)]
    assert [per_address.auth_failed(f) for f in failures[:2]] == [None, None]
    trip = per_address.auth_failed(failures[2])
    assert trip is not None and trip.subject == "address:10.0.0.9" and trip.account_id == ""
    assert [per_account.auth_failed(f) is not None for f in failures] == [False, False, True]
    assert per_account.auth_failed(events.AuthFailed(occurred_at_ms=5_000, address="10.0.0.9")) is None  # no account known


def test_recent_requests_are_bounded_in_time_and_number_and_scoped_to_their_account() -> None:
    recent = Recent(lookback_s=10, limit=3)
    for i in range(5):
        recent.add(usage(at=1_000 + i, request_id=f"q{i}"), now_ms=1_005)
    assert len(recent) == 3 and recent.find("acct_a", "q0") is None and recent.find("acct_a", "q4") is not None
    assert recent.find("acct_other", "q4") is None
    recent.expire(now_ms=1_004 + 10_000)
    assert len(recent) == 0
