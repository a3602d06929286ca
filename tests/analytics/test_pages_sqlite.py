"""The analytics pages and the chat dashboard also work in the zero-setup SQLite demo (no
covering indexes, no percentiles, LIKE search). Run in a subprocess on a fresh SQLite file."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import datetime as dt, json, sys
from tests.support.clock import shift
shift()  # the run's clock (tests/support/clock.py): production settings do not apply it
import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment
from django.utils import timezone
from analytics import dashboards, importer
from analytics.models import ChatSession, Dashboard, DataSource
from django.core.files.base import ContentFile
from routing_service.chats.models import Channel, Client as Customer, Conversation
from routing_service.tenancy.actions import create_company, create_user

setup_test_environment()
call_command("migrate", verbosity=0)
company = create_company("Demo", "demo")
admin = create_user(username="boss", password="pw-123456", role="company_admin", company=company)
source = DataSource(company=company, name="demo.csv")
source.file.save("demo.csv", ContentFile(sys.stdin.read().encode()))
importer.run_import(source.pk)
board = Dashboard.objects.create(company=company, name="All", last_days=3650)
channel = Channel.objects.create(company=company, name="web", provider="generic", secret="x" * 20)
now = timezone.now()
for i, status in enumerate(["resolved", "waiting", "assigned"]):
    Conversation.objects.create(
        company=company, channel=channel, status=status, priority="high", priority_rank=2,
        client=Customer.objects.create(company=company, external_id=f"c{i}"),
        created_at=now - dt.timedelta(hours=3), queued_at=now - dt.timedelta(hours=3),
        last_message_at=now, first_response_at=now - dt.timedelta(hours=2),
        resolved_at=now - dt.timedelta(hours=1) if status == "resolved" else None,
        first_response_due_at=now - dt.timedelta(hours=2, minutes=30),
        first_response_met=False, resolution_met=True if status == "resolved" else None,
    )
client = Client()
client.force_login(admin)
session = ChatSession.objects.get(session_id="A")
paths = ["/analytics/", "/analytics/dashboards/", f"/analytics/dashboards/{board.pk}/",
         "/analytics/dashboards/new/", "/analytics/data-sources/",
         f"/analytics/data-sources/{source.pk}/", "/analytics/sessions/?q=refund",
         f"/analytics/sessions/{session.pk}/", "/chat/dashboard/",
         "/chat/dashboard/metrics.csv"]
statuses = {path: client.get(path).status_code for path in paths}
page = client.get("/analytics/sessions/?q=refund")
chat = client.get("/chat/dashboard/")
print(json.dumps({
    "vendor": connection.vendor,
    "statuses": statuses,
    "found": [s.session_id for s in page.context["results"].sessions],
    "totals": client.get("/analytics/").context["totals"]["sessions"],
    "chats": chat.context["sla"]["totals"]["chats"],
    "missed": chat.context["sla"]["totals"]["sla_missed"],
}))
"""


def test_pages_work_on_sqlite(tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    content = (
        "session_id,start_time,end_time,ip_address,country,language,messages_sent,sentiment,"
        "escalated,forwarded_hr,full_transcript,avg_response_time,tokens,tokens_eur,category,"
        "initial_msg,user_rating\n"
        f"A,{today} 10:00:00,{today} 10:30:00,10.0.0.1,DE,de,4,Positive,no,no,"
        "Client: refund please,3.5,100,0.0010,billing,refund please,5\n"
        f"B,{today} 11:00:00,{today} 11:30:00,10.0.0.2,FR,fr,2,Negative,yes,no,"
        "Client: hello,7,200,0.0020,orders,hello,1\n"
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
        ALLOWED_HOSTS="testserver",
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
    assert set(result["statuses"].values()) == {200}, result["statuses"]
    assert result["found"] == ["A"]
    assert result["totals"] == 2
    assert result["chats"] == 3
    assert result["missed"] == 3
