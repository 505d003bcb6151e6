from tollgate.reconcile import report


def test_report_flags_any_difference():
    text, ok = report([("2026-11-22", 100, 100), ("2026-11-23", 7, 7)])
    assert ok and text.endswith("no differences")
    text, ok = report([("2026-11-23", 100, 93)])
    assert not ok and "DIFFERENCES FOUND" in text and " 7" in text.splitlines()[1]
    assert report([])[1]  # nothing on either side is consistent
