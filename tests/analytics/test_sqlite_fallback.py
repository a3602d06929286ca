"""The zero-setup local demo runs on SQLite: the importer's executemany fallback and the
LIKE search must work there too. Run in a subprocess on a fresh SQLite database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.analytics.conftest import csv_text

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
import django
django.setup()
from django.core.management import call_command
from django.core.files.base import ContentFile
from django.db import connection
from analytics.importer import run_import
from analytics.filters import SessionFilterSet
from analytics.models import ChatSession, DataSource
from routing_service.tenancy.actions import create_company

call_command("migrate", verbosity=0)
company = create_company("Demo", "demo")
content = sys.stdin.read().encode()
reports = []
for name in ("first", "again"):
    source = DataSource(company=company, name=name)
    source.file.save("sessions.csv", ContentFile(content))
    reports.append(run_import(source.pk, batch_rows=2).outcome.value)
    source.refresh_from_db()
    reports.append([source.status, source.rows_imported, source.duplicates, source.rows_rejected,
                    source.errors, source.bytes_processed == len(content)])
session = ChatSession.objects.get(session_id="A")
found = SessionFilterSet({"q": "REFUND please", "date_from": "2024-03-01"},
                         queryset=ChatSession.objects.all()).qs
print(json.dumps({
    "vendor": connection.vendor,
    "reports": reports,
    "a": [session.start_time.isoformat(), session.country, str(session.tokens_eur),
          session.sentiment, session.escalated, session.user_rating],
    "found": sorted(found.values_list("session_id", flat=True)),
}))
"""


def test_import_and_search_work_on_sqlite(tmp_path: Path) -> None:
    content = csv_text(
        [
            {
                "session_id": "A",
                "country": "first",
                "start_time": "2024-03-01T10:00:00+02:00",
                "full_transcript": "I want a refund, please",
            },
            {"session_id": "B", "sentiment": "", "escalated": "yes"},
            {"session_id": "A", "country": "second"},
            {"session_id": "C", "messages_sent": "many"},
            {"session_id": "D", "initial_msg": "Refund now? Please!"},
        ]
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "TEST_DATABASE_NAME", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="routing_service.settings",
        SWITCHBOARD_VAR_DIR=str(tmp_path / "var"),
        MEDIA_ROOT=str(tmp_path / "media"),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        input=content,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["vendor"] == "sqlite"
    error = {"line": 5, "column": "messages_sent", "reason": "not a whole number: 'many'"}
    assert result["reports"] == [
        "done",
        ["done", 3, 1, 1, [error], True],
        "done",
        ["done", 0, 4, 1, [error], True],
    ]
    assert result["a"] == ["2024-03-01T08:00:00+00:00", "first", "0.0240", "Positive", False, 4]
    assert result["found"] == ["A", "D"]
