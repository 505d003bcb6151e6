"""Environment settings (tollgate.settings)."""

from __future__ import annotations

import msgspec
import pytest

from tollgate.settings import ENV_PREFIX, Settings


def test_defaults_when_environment_is_empty() -> None:
    assert Settings.from_env({}) == Settings()


def test_from_env_converts_types() -> None:
    s = Settings.from_env(
        {
            "TOLLGATE_EDGE_PORT": "9000",
            "TOLLGATE_PRINCIPAL_CACHE_TTL_S": "1.5",
            "TOLLGATE_UPSTREAM_READ_TIMEOUT_S": "2",
            "TOLLGATE_LOG_LEVEL": "debug",
            "TOLLGATE_KEY_HASH_PEPPER": "12345",  # numeric-looking, but a str field
            "TOLLGATE_NOT_A_SETTING": "ignored",
            "EDGE_PORT": "1",  # no prefix: ignored
            "tollgate_edge_host": "0.0.0.0",  # wrong case: ignored
        }
    )
    assert s.edge_port == 9000 and type(s.edge_port) is int
    assert s.principal_cache_ttl_s == 1.5
    assert s.upstream_read_timeout_s == 2.0 and type(s.upstream_read_timeout_s) is float
    assert s.log_level == "debug"
    assert s.key_hash_pepper == "12345"
    assert s.edge_host == "127.0.0.1"
    assert s.metering_port == Settings().metering_port


@pytest.mark.parametrize(
    "name, value",
    [("EDGE_PORT", "abc"), ("EDGE_PORT", ""), ("EDGE_PORT", "1.5"), ("PRINCIPAL_CACHE_TTL_S", "soon"), ("CACHE_MAX_ENTRIES", "1e3x")],
)
def test_invalid_value_exits(name: str, value: str) -> None:
    with pytest.raises(SystemExit) as info:
        Settings.from_env({ENV_PREFIX + name: value})
    assert "invalid setting" in str(info.value.code)
    assert name.lower() in str(info.value.code)


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_METERING_BATCH_SIZE", "7")
    assert Settings.from_env().metering_batch_size == 7


def test_to_env_round_trip() -> None:
    original = Settings(
        edge_port=1234,
        principal_cache_ttl_s=0.25,
        metering_batch_wait_s=1e-05,
        key_hash_pepper="p3pp3r with spaces",
        accounts_db="/tmp/x.sqlite3",
        cache_max_entries=7,
    )
    env = original.to_env()
    assert all(k.startswith(ENV_PREFIX) and k == k.upper() for k in env)
    assert all(isinstance(v, str) for v in env.values())
    assert len(env) == len(msgspec.structs.fields(Settings))
    assert env["TOLLGATE_EDGE_PORT"] == "1234"
    assert Settings.from_env(env) == original
    assert Settings.from_env(Settings().to_env()) == Settings()


def test_derived_paths(tmp_path) -> None:
    s = Settings(data_dir=str(tmp_path))
    assert s.accounts_db_path == tmp_path / "accounts.sqlite3"
    assert s.clickhouse == f"chdb://{tmp_path / 'clickhouse'}"
    s = Settings(data_dir=str(tmp_path), accounts_db=str(tmp_path / "elsewhere.db"), clickhouse_dsn="http://ch:8123")
    assert s.accounts_db_path == tmp_path / "elsewhere.db"
    assert s.clickhouse == "http://ch:8123"
