"""The integration tests and the scale-out scenario, run again through PgBouncer in transaction
mode (issue 15): nothing may rely on session state across transactions.

A private PgBouncer (Debian's binary, `scripts/lib.sh` installs it) listens on a free port in
front of the suite's PostgreSQL. A nested pytest run, with its own test database and Redis key
prefix, points `DATABASE_URL` at it, so the web, router, SLA timer and worker processes those
tests start go through it too. A server connection there is ours for one transaction only: a
session-level advisory lock, `SET`, prepared statement, `LISTEN` or `WITH HOLD` cursor that the
code relied on would surface as a failure here: PgBouncer runs `DISCARD ALL` after every
transaction and hands a client's transactions to its server connections in turn (see
`test_session_state_does_not_survive_a_transaction`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.support.processes import ROOT, free_port, stop, wait_for, wait_for_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
# Server connections per database: fewer than the nested run's processes hold client
# connections (the scale-out scenario: 2 web, 3 routers with 2 database lanes each, 2 timers
# and the test itself), so clients queue for a server as they do in production.
POOL_SIZE = 8

# Within the suite, a representative set that goes through every way the product reaches
# PostgreSQL from a process: the router (worker and its dead-letter path, kill -9 and restart,
# the scale-out scenario with 2 web, 3 routers and 2 SLA timers), the chat actions' set-based
# writes and constraints, the outbox (writer, relay, crash between commit and publish), the
# SLA timer (claims with SKIP LOCKED and try-advisory locks, two timers and a restart),
# outbound delivery by dramatiq workers (one killed mid-send), websocket actions and the web
# process under uvicorn and daphne, the webhooks' channel lookups, and the CSV import's
# parallel lanes (COPY into a staging table), PostgreSQL's sessions terminated and refused
# under traffic, and the Redis Cluster failover. Every other integration test runs through
# PgBouncer with `scripts/test-pgbouncer` (the set below replaced by
# SWITCHBOARD_PGBOUNCER_TESTS; docs/operations.md, "PgBouncer", has the figures).
WEBHOOKS = "tests/ingest/test_webhooks.py::"
THROUGH_PGBOUNCER = [
    "tests/router/test_worker.py",
    "tests/router/test_worker_retries.py",
    "tests/router/test_router_processes.py",
    "tests/router/test_routing_actions.py",
    "tests/router/test_scale_out.py",
    "tests/chats/test_bulk.py",
    "tests/chats/test_constraints.py",
    "tests/events/test_outbox.py",
    "tests/sla_engine/test_run_sla_timer.py",
    "tests/sla_engine/test_timer_processes.py",
    "tests/outbound/test_delivery.py",
    "tests/outbound/test_worker_death.py",
    "tests/realtime/test_actions.py",
    "tests/realtime/test_servers.py",
    f"{WEBHOOKS}test_generic_message_is_accepted_and_appended_as_normalised_entry",
    f"{WEBHOOKS}test_fifty_concurrent_identical_posts_append_exactly_one_entry",
    f"{WEBHOOKS}test_unknown_uuid_is_cached_briefly",
    f"{WEBHOOKS}test_project_asgi_sends_webhooks_to_the_webhook_app_and_the_rest_to_django",
    "tests/analytics/test_import_lanes.py",
    # PostgreSQL's sessions terminated (three rounds) and then refused for 4 s under traffic,
    # behind PgBouncer: it hides a terminated idle server connection; a transaction that was on
    # one, or that waits through the refusal, must be retried without loss or duplicates.
    "tests/reliability/test_faults.py::test_postgres_sessions_terminated_and_refused_lose_nothing",
    # Issue 15's deployment whole: the scale-out scenario on a local Redis Cluster with a
    # primary killed midway, its database through PgBouncer.
    "tests/cluster/test_cluster_failover.py",
]
# The whole nested run's bound (scripts/test-pgbouncer raises it for the full set).
RUN_TIMEOUT = int(os.environ.get("SWITCHBOARD_PGBOUNCER_TIMEOUT", "900"))


def _selection() -> list[str]:
    """SWITCHBOARD_PGBOUNCER_TESTS (pytest arguments, shell-quoted) or the set above."""
    chosen = shlex.split(os.environ.get("SWITCHBOARD_PGBOUNCER_TESTS", ""))
    return chosen or THROUGH_PGBOUNCER


def _var_dir() -> Path:
    return Path(os.environ.get("SWITCHBOARD_VAR_DIR", ROOT / "var" / "test"))


def _server() -> dict[str, str]:
    db = connection.settings_dict
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": str(db["PORT"] or 5432),
        "user": db["USER"] or "postgres",
        "password": db.get("PASSWORD") or "",
    }


@pytest.fixture(scope="module")
def pgbouncer() -> Iterator[int]:
    """PgBouncer in transaction mode on a free port, for every database of the server."""
    if not os.path.exists(PGBOUNCER):
        pytest.fail("pgbouncer is not installed: scripts/test installs Debian's package")
    server = _server()
    port = free_port()
    # PgBouncer refuses to run as root: as root it drops to `postgres`, which must read these.
    folder = Path(tempfile.mkdtemp(prefix="switchboard-pgbouncer-"))
    folder.chmod(0o755)
    (folder / "userlist.txt").write_text(f'"{server["user"]}" "{server["password"]}"\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server['host']} port={server['port']}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = md5\nauth_file = {folder / 'userlist.txt'}\n"
        f"admin_users = {server['user']}\n"
        "pool_mode = transaction\n"
        f"max_client_conn = 1000\ndefault_pool_size = {POOL_SIZE}\n"
        # A client's successive transactions go to different server connections instead of
        # the one it just used (PgBouncer's default, LIFO, would often hand the same one back
        # and hide code that relies on session state).
        "server_round_robin = 1\n"
        # And every transaction's session state is wiped when it ends (settings, prepared
        # statements, temporary tables, advisory locks, LISTEN, cursors): code that relied on
        # it fails here at once instead of now and then in production.
        "server_reset_query = DISCARD ALL\nserver_reset_query_always = 1\n"
        # Idle server connections go soon, so a test database can be dropped after the run.
        "server_idle_timeout = 5\n"
        # Every process reconnects per request (CONN_MAX_AGE=0): a line per login would be
        # megabytes of log for nothing.
        "log_connections = 0\nlog_disconnections = 0\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
    )
    for name in ("userlist.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    command = [PGBOUNCER, "--quiet", str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "postgres"]
        shutil.chown(folder, user="postgres")
    # Its output goes to a file, never to a pipe: PgBouncer is one thread, and a pipe nobody
    # reads fills after some 64 KiB of log lines, blocks its write(2), and with it every
    # client. That was the "hang" of the router worker tests and the "stall" of the scale-out
    # scenario through it (docs/operations.md, "PgBouncer").
    output = open(folder / "pgbouncer.out", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        yield port
    finally:
        stop(process, timeout=10)
        output.close()
        log = _var_dir() / "pgbouncer.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copyfile(folder / "pgbouncer.log", log)
        shutil.rmtree(folder, ignore_errors=True)


def _dsn(port: int, database: str) -> str:
    server = _server()
    return f"postgresql://{server['user']}:{server['password']}@127.0.0.1:{port}/{database}"


def test_pool_runs_in_transaction_mode(pgbouncer: int) -> None:
    """The harness proves what it claims: the admin console reports transaction pooling."""
    with psycopg.connect(_dsn(pgbouncer, "pgbouncer"), autocommit=True) as admin:
        rows = admin.execute("SHOW CONFIG").fetchall()
    settings = {row[0]: row[1] for row in rows}
    assert settings["pool_mode"] == "transaction"


def test_session_state_does_not_survive_a_transaction(pgbouncer: int) -> None:
    """The harness is sharp: whatever a transaction leaves in its session is gone for the
    client's next one, every time (DISCARD ALL after each, and another server connection), so
    nested tests that relied on it fail. Only what PgBouncer tracks itself per client (time
    zone, client encoding, DateStyle, application_name: Django's `SET TIME ZONE`) carries on."""
    with psycopg.connect(_dsn(pgbouncer, "postgres"), autocommit=True) as client:
        client.execute("SET statement_timeout = '4321ms'")
        client.execute("SET TIME ZONE 'Asia/Tokyo'")
        client.execute("PREPARE kept AS SELECT 1")
        client.execute("CREATE TEMPORARY TABLE kept (n int)")
        client.execute("SELECT pg_advisory_lock(4321)")

        assert client.execute("SHOW statement_timeout").fetchone() != ("4321ms",)
        assert client.execute("SHOW TimeZone").fetchone() == ("Asia/Tokyo",)
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            client.execute("EXECUTE kept")
        with pytest.raises(psycopg.errors.UndefinedTable):
            client.execute("SELECT n FROM kept")
        # Released by the reset, which may still be running on the lock holder's connection.
        wait_for(
            lambda: (
                client.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4321"
                ).fetchone()
                == (0,)
            ),
            timeout=5,
        )


@pytest.mark.timeout(RUN_TIMEOUT + 120)
def test_integration_tests_pass_through_pgbouncer(pgbouncer: int) -> None:
    run = f"pgb{uuid.uuid4().hex[:10]}"
    database = f"test_switchboard_{run}"
    env = {
        **os.environ,
        "DATABASE_URL": _dsn(pgbouncer, "switchboard").replace("postgresql://", "postgres://"),
        "DATABASE_PGBOUNCER": "true",
        "SWITCHBOARD_TEST_RUN": run,
        "TEST_DATABASE_NAME": database,
        "REDIS_KEY_PREFIX": f"sbtest{run}",
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    # The nested run writes straight to its log: readable while it runs, and kept whole if it
    # overruns its bound.
    log = _var_dir() / "pgbouncer-run.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("w") as output:
            returncode = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    # The nested run keeps its database: PgBouncer still holds server
                    # connections to it when pytest-django would drop it. Dropped below.
                    "--reuse-db",
                    *_selection(),
                ],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT,
            ).returncode
    except subprocess.TimeoutExpired:
        returncode = -1
    finally:
        server = _server()
        direct = (
            f"postgresql://{server['user']}:{server['password']}@{server['host']}:"
            f"{server['port']}/postgres"
        )
        with psycopg.connect(direct, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    text = log.read_text(errors="replace")
    lines = text.strip().splitlines()
    summary = lines[-1:] or [""]
    failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    assert returncode != -1, f"not done within {RUN_TIMEOUT} s (output: {log})\n" + text[-3000:]
    assert returncode == 0, f"{failed} (whole output: {log})\n" + text[-3000:]
    assert " passed" in summary[0], summary
    if not os.environ.get("SWITCHBOARD_PGBOUNCER_TESTS"):
        assert "skipped" not in summary[0], summary
