"""The fault scenarios of tests/reliability/ with larger counts, printing the same ledger.

Run: ``.venv/bin/python tests/perf/fault_ledger.py --messages 5000 --scenario all`` (or one of
router, redis-kill, redis-stop, postgres, sla-timer, worker, or several joined by commas;
``--json`` adds one JSON line per scenario). Each scenario starts the deployed processes (web
via deploy/web.sh, routers, SLA timers, dramatiq under deploy/worker.sh) against a database of
its own,
``switchboard_fault_ledger`` on the server of ``DATABASE_URL`` (created and migrated here,
emptied before each scenario), and a private ``redis-server`` (the worker scenario: Redis
database 14 of the local server, keys under ``sbtestledger``). The shared servers are never
stopped or killed: only this database's sessions are terminated.

Exit status 1 if any ledger is not clean. Named without ``test_`` so pytest never collects it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

LEDGER_DB = "switchboard_fault_ledger"
DEFAULT_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:5432/switchboard"


def configure() -> None:
    """The test settings (DEBUG off, the provider stand-in allowed), on a database of our own."""
    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    parts = urlsplit(base)
    os.environ.update(
        DATABASE_URL=urlunsplit(parts._replace(path=f"/{LEDGER_DB}")),
        DJANGO_SETTINGS_MODULE="tests.settings",
        SWITCHBOARD_TEST_RUN="ledger",
        EVENT_LOG_MAXLEN="10000000",  # the ledger reads the whole log (workers inherit it)
        LOG_LEVEL="WARNING",
    )
    import psycopg

    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [LEDGER_DB]).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{LEDGER_DB}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def reset() -> None:
    """An empty database and none of our keys on the shared Redis."""
    import redis
    from django.conf import settings
    from django.core.management import call_command

    from tests.conftest import delete_run_keys
    from tests.reliability.ledger import remove_outbox_audit
    from tests.support.processes import wait_for_other_sessions_to_end

    remove_outbox_audit()
    wait_for_other_sessions_to_end(timeout=30)
    call_command("flush", interactive=False, verbosity=0)
    client = redis.Redis.from_url(settings.REDIS_URL)
    delete_run_keys(client)
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="webhooks per scenario")
    parser.add_argument("--clients", type=int, help="concurrent customers (default: N/25)")
    parser.add_argument("--scenario", default="all", help="all, or names joined by commas")
    parser.add_argument("--json", action="store_true", help="also one JSON line per scenario")
    args = parser.parse_args()
    configure()
    from tests.reliability.scenarios import SCENARIOS, counts_for

    names = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}: one of {', '.join(SCENARIOS)} or all")
    counts = counts_for(args.messages, args.clients)
    print(
        f"{counts.messages:,} webhooks per scenario from {counts.clients} clients "
        f"({counts.per_client} each) of {counts.companies} companies; load {load()}",
        flush=True,
    )
    clean = True
    workdir = Path(tempfile.mkdtemp(prefix="sb-fault-ledger-"))
    for name in names:
        reset()
        started = time.monotonic()
        scenario_counts = counts
        if name in ("sla-timer", "worker"):
            # Their faults hit the SLA timers and the workers: one chat per client, two
            # messages each, and the load where it matters (timers, replies).
            scenario_counts = counts_for(counts.clients * 2, counts.clients)
        try:
            ledger = SCENARIOS[name](scenario_counts, workdir / name)
        except Exception as exc:  # one scenario's breakdown must not hide the others' ledgers
            clean = False
            print(f"[{name}] did not complete: {exc!r}"[:2000], flush=True)
            continue
        problems = ledger.problems()
        clean = clean and not problems
        print(ledger.format(), flush=True)
        print(
            f"  => {'CLEAN' if not problems else 'PROBLEMS: ' + '; '.join(problems)} "
            f"({time.monotonic() - started:.0f} s, load {load()})",
            flush=True,
        )
        if problems:
            for example in ledger.examples[:10]:
                print("   ", example[:2000])
        if args.json:
            print(json.dumps(ledger.as_dict()), flush=True)
    reset()
    print(f"logs: {workdir}")
    return 0 if clean else 1


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
