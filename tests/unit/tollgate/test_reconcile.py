from tollgate.reconcile import RAW_COST, report


def test_report_flags_any_difference():
    text, ok = report([(RAW_COST, "2026-11-22", 100, 100), (RAW_COST, "2026-11-23", 7, 7)])
    assert ok and text.endswith("no differences")
    text, ok = report([(RAW_COST, "2026-11-23", 100, 93)])
    assert not ok and "DIFFERENCES FOUND" in text and " 7" in text.splitlines()[1]
    assert report([])[1]  # nothing on either side is consistent


def test_report_flags_a_difference_in_any_table_even_when_the_raw_one_matches():
    rows = [(RAW_COST, "2026-11-23", 34_800, 34_800), ("cost: usage_daily (statement) vs ledger", "2026-11-23", 34_800, 34_800)]
    text, ok = report([*rows, ("cost: statement (month) vs ledger", "2026-11", 34_800, 34_858)])
    assert not ok and "DIFFERENT: cost: statement (month) vs ledger" in text and "-58" in text
    text, ok = report(rows)
    assert ok and "same: cost: usage_daily (statement) vs ledger" in text
