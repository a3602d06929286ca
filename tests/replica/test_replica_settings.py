"""DATABASE_REPLICA_URL is validated at start-up like DATABASE_URL and shares its pool and
PgBouncer options; unset, there is no replica alias and no router. Each case runs
routing_service/settings.py afresh with its environment."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

pytestmark = pytest.mark.filterwarnings(
    "ignore:.routing_service.settings. found in sys.modules:RuntimeWarning"
)

PRIMARY = "postgres://app:pw@db:5432/switchboard"


def load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> dict[str, Any]:
    for name in (
        "DATABASE_REPLICA_URL",
        "DATABASE_REPLICA_PIN_SECONDS",
        "DATABASE_REPLICA_MAX_LAG_SECONDS",
        "DATABASE_REPLICA_CONNECT_TIMEOUT",
        "DATABASE_POOL",
        "DATABASE_PGBOUNCER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SWITCHBOARD_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", PRIMARY)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_module("routing_service.settings", run_name="settings_under_test")


def test_without_a_replica_url_there_is_no_alias_and_no_router(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loaded = load(monkeypatch, tmp_path)
    assert set(loaded["DATABASES"]) == {"default"}
    assert loaded["DATABASE_ROUTERS"] == []


def test_a_replica_url_adds_the_alias_with_the_primarys_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loaded = load(
        monkeypatch,
        tmp_path,
        DATABASE_REPLICA_URL="postgres://app:pw@replica:5433/switchboard",
        DATABASE_POOL="true",
        DATABASE_PGBOUNCER="true",
        DATABASE_REPLICA_MAX_LAG_SECONDS="30",
    )
    replica = loaded["DATABASES"]["replica"]
    assert (replica["HOST"], replica["PORT"], replica["NAME"]) == ("replica", 5433, "switchboard")
    assert replica["OPTIONS"]["connect_timeout"] == 2
    assert replica["OPTIONS"]["pool"]["max_size"] == 10
    assert replica["OPTIONS"]["pool"]["timeout"] == 2  # never waits the primary's 10 s
    assert replica["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert loaded["DATABASE_ROUTERS"] == ["routing_service.db.replica.ReplicaRouter"]
    assert loaded["DATABASE_REPLICA_MAX_LAG_SECONDS"] == 30
    assert loaded["DATABASE_REPLICA_PIN_SECONDS"] == 10


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"DATABASE_REPLICA_URL": "mysql://app@replica/switchboard"}, "must point to PostgreSQL"),
        ({"DATABASE_REPLICA_URL": "nonsense://x"}, "DATABASE_REPLICA_URL is not valid"),
        (
            {"DATABASE_REPLICA_URL": "postgres://r/db", "DATABASE_URL": ""},
            "needs DATABASE_URL to be PostgreSQL",
        ),
        (
            {"DATABASE_REPLICA_URL": "postgres://r/db", "DATABASE_REPLICA_MAX_LAG_SECONDS": "x"},
            "DATABASE_REPLICA_MAX_LAG_SECONDS must be an integer",
        ),
        (
            {"DATABASE_REPLICA_URL": "postgres://r/db", "DATABASE_REPLICA_CONNECT_TIMEOUT": "0"},
            "DATABASE_REPLICA_CONNECT_TIMEOUT must be >= 1",
        ),
    ],
)
def test_bad_replica_settings_are_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], why: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=why):
        load(monkeypatch, tmp_path, **env)
