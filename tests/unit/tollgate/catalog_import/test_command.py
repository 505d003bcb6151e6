"""``tollgate catalog import`` as the CLI parses and runs it, on the bundled genai-prices data."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.router.catalog import parse
from tollgate import cli

AT = datetime(2026, 12, 5, tzinfo=UTC)
CHANNELS = """\
# channels only
[[channels]]
id = "oa"
provider = "openai"
base_url = "https://api.openai.com/v1"
models = {}

[[channels]]
id = "local"
provider = "vllm"
base_url = "http://10.0.0.5:8000/v1"
data_policy = { zdr = true }
models = { "mine" = "mine" }

[[models]]
id = "mine"
"""


def run(*argv: str) -> tuple[int, str]:
    args = cli.build_parser().parse_args(["catalog", "import", *argv])
    out = io.StringIO()
    return args.local(args, out=out, at=AT), out.getvalue()


def test_dry_run_prints_the_counts_and_writes_nothing(tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CHANNELS)
    status, out = run("--catalog", str(catalog), "--dry-run")
    assert status == 0 and catalog.read_text() == CHANNELS
    assert "vendors: openai" in out and "no price data for the channels' vendors: vllm" in out
    assert out.splitlines()[-1] == "dry run: nothing written" and "warning" not in out
    added = int(out.split("added ")[1].split(",")[0])
    assert added > 50


def test_import_writes_a_catalog_the_router_loads_then_a_refresh_changes_nothing(tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CHANNELS)
    status, out = run("--catalog", str(catalog), "--json")
    report = json.loads(out)
    assert status == 0 and report["written"] == str(catalog) and report["vendors"] == ["openai"]
    loaded = parse(catalog.read_bytes(), 1)
    imported = [m for m in loaded.models.values() if m.source.startswith("genai-prices:openai/")]
    assert len(imported) == report["added"] == report["routes"]["oa"] == len(loaded.channel("oa").models)
    assert loaded.channel("local").models == {"mine": "mine"}
    status, out = run("--catalog", str(catalog), "--json")
    again = json.loads(out)
    assert (again["added"], again["changed"], again["unchanged"]) == (0, 0, report["added"])


def test_out_writes_elsewhere_and_the_margin_shows_in_the_diff(tmp_path):
    catalog, out_file = tmp_path / "catalog.toml", tmp_path / "new.toml"
    catalog.write_text(CHANNELS)
    run("--catalog", str(catalog), "--out", str(catalog))
    status, out = run("--catalog", str(catalog), "--out", str(out_file), "--margin", "1.2")
    assert status == 0 and f"wrote {out_file}" in out
    assert "changed gpt-4o: input 2_500_000 → 3_000_000, output 10_000_000 → 12_000_000" in out
    assert parse(out_file.read_bytes(), 1).models["gpt-4o"].price.input_per_mtok_micros == 3_000_000


def test_vendor_option_imports_vendors_without_channels(tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CHANNELS.replace("models = {}", 'models = { "mine" = "mine" }'))
    status, out = run("--catalog", str(catalog), "--vendor", "anthropic,x-ai", "--vendor", "deepseek", "--json")
    report = json.loads(out)
    assert status == 0 and report["vendors"] == ["anthropic", "xai", "deepseek"] and report["routes"] == {}
    assert report["idle_channels"] == []
    owners = {m.owned_by for m in parse(catalog.read_bytes(), 1).models.values() if m.source}
    assert owners == {"anthropic", "xai", "deepseek"}


@pytest.mark.parametrize(
    ("text", "argv", "message"),
    [
        (CHANNELS, ("--vendor", "acme"), "no price data for vendor 'acme'"),
        (CHANNELS, ("--channel", "nope"), "no channel nope in"),
        ("[[channels]]\nid = 'x'\nprovider = 'vllm'\n", (), "no channel of the catalog is of a vendor with price data"),
        ("[[models]\nid = 1", (), "is not valid TOML"),
        (CHANNELS + "\n[[models]]\nid = 1\n", (), "needs a string id"),
        ("models = 3\n" + CHANNELS.split("[[models]]")[0], (), "must be arrays of tables"),
        ("channels = [1]\n", ("--vendor", "openai"), "needs a string id"),
        ('[[channels]]\nid = "c"\nprovider = "openai"\nmodels = 2\n', (), "a channel's `models` must be a table"),
    ],
)
def test_errors_are_one_line_on_stderr_with_status_1(tmp_path, capsys, text, argv, message):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(text)
    status, out = run("--catalog", str(catalog), *argv)
    err = capsys.readouterr().err
    assert status == 1 and out == "" and err.startswith("error: ") and message in err and "Traceback" not in err
    assert catalog.read_text() == text


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan"])
def test_a_bad_margin_is_refused_by_the_parser(capsys, value):
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(["catalog", "import", "--margin", value])
    assert exit_.value.code == 2 and "--margin" in capsys.readouterr().err


def test_main_runs_it_without_calling_a_service(tmp_path, capsys):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CHANNELS)
    assert cli.main(["catalog", "import", "--catalog", str(catalog), "--dry-run"]) == 0
    assert "dry run: nothing written" in capsys.readouterr().out


def test_the_demo_catalog_gets_vendor_models_served_by_the_simulator(tmp_path, monkeypatch):
    """What the README's demo does: OpenAI's models at OpenAI's prices, served by the demo's simulator channel."""
    catalog = tmp_path / "catalog.toml"
    demo = (Path(__file__).resolve().parents[4] / "config" / "catalog.toml").read_text()
    catalog.write_text(demo)
    status, out = run("--catalog", str(catalog), "--vendor", "openai", "--channel", "sim-primary", "--json")
    report = json.loads(out)
    assert status == 0 and report["routes"] == {"sim-primary": report["added"]}
    monkeypatch.setenv("TOLLGATE_SIM_PORT", "18099")
    loaded = parse(catalog.read_bytes(), 1, base_dir=catalog.parent)
    assert loaded.channel("sim-primary").models["gpt-4o"] == "gpt-4o"
    assert catalog.read_text().startswith(demo.split("[[models]]")[0])  # the demo's comments and settings as they were


def test_a_channel_the_import_leaves_empty_is_warned_about_and_the_file_keeps_its_mode(tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CHANNELS)
    catalog.chmod(0o640)
    status, out = run("--catalog", str(catalog), "--vendor", "anthropic")
    assert status == 0 and "warning: channels serving no model (the router refuses the catalog until they do): oa" in out
    assert catalog.stat().st_mode & 0o777 == 0o640
