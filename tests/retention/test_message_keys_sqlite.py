"""The SQLite demo keeps exactly-once messages too: its row triggers write `chats_messagekey`
(no partitions there). Run in a subprocess on a fresh SQLite file, migrated from scratch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json
from tests.support.clock import shift
shift()
import django
django.setup()
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from routing_service.chats.actions.inbound import receive_inbound_message
from routing_service.chats.models import Channel, Message, MessageKey
from routing_service.ingest.adapters.base import InboundMessage
from routing_service.tenancy.models import Company

call_command("migrate", verbosity=0)
company = Company.objects.create(name="Acme", slug="acme")
channel = Channel.objects.create(company=company, name="Web", provider="generic")
def inbound(pid):
    return InboundMessage(provider="generic", provider_message_id=pid, client_external_id="c1",
                          client_name="C", text="hi", sent_at=timezone.now())
first = receive_inbound_message(channel, inbound("p1"))
again = receive_inbound_message(channel, inbound("p1"))
message = Message.objects.unscoped().get(pk=first.message_id)
try:
    with transaction.atomic():
        Message.objects.create(company=company, conversation=message.conversation,
                               channel=channel, direction="inbound", provider_message_id="p1",
                               text="bypass", sent_at=timezone.now())
    refused = False
except IntegrityError:
    refused = True
Message.objects.unscoped().filter(pk=message.pk).update(provider_message_id="p2")
moved = sorted(MessageKey.objects.values_list("provider_message_id", flat=True))
Message.objects.unscoped().all().delete()
print(json.dumps({"vendor": connection.vendor, "first": first.duplicate,
                  "again": again.duplicate, "refused": refused, "moved": moved,
                  "left": MessageKey.objects.count()}))
"""


def test_sqlite_demo_keeps_messages_exactly_once(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "TEST_DATABASE_NAME", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="routing_service.settings",
        SWITCHBOARD_VAR_DIR=str(tmp_path / "var"),
        MEDIA_ROOT=str(tmp_path / "media"),
        DEBUG="true",
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "vendor": "sqlite",
        "first": False,
        "again": True,
        "refused": True,
        "moved": ["p2"],
        "left": 0,
    }
