"""The data the page tests look at: two companies with people of every role, chats in every
state (met, missed, overdue, waiting), daily roll-ups, imported sessions with big numbers, and
a dashboard — made through the product's own actions, as tests/analytics/sample.py does.

Smaller than `create_sample_data` (seconds, not a minute on a busy machine) but with the
figures that broke the layout: a tile of 40,190,671 tokens, a compliance of 100 %.
"""

from __future__ import annotations

from typing import Final

from analytics.models import Dashboard
from routing_service.tenancy.actions import create_company, create_user
from routing_service.tenancy.models import Company, Role
from tests.analytics.sample import import_sessions, make_chats, session_rows, write_rollups

PASSWORD: Final = "pw-123456"  # make_chats' agents have it too
PEOPLE: Final = {
    "root": Role.SUPERADMIN,
    "acme-admin": Role.COMPANY_ADMIN,
    "acme-supervisor": Role.SUPERVISOR,
    "acme-viewer": Role.VIEWER,
}
# make_chats' agents of acme.
AGENT: Final = "acme-agent1"


def build() -> None:
    acme = create_company("Acme Retail", "acme")
    globex = create_company("Globex Care", "globex")
    for username, role in PEOPLE.items():
        company: Company | None = None if role == Role.SUPERADMIN else acme
        create_user(
            username=username,
            password=PASSWORD,
            role=role,
            company=company,
            first_name=username.split("-")[-1].capitalize(),
        )
    for company, tag in ((acme, "acme"), (globex, "globex")):
        chats = make_chats(company, tag)
        write_rollups(company, chats.agents, range(1, 30))
        rows = session_rows(tag[0])
        rows[0]["tokens"] = "40190671"  # the tile that overflowed (issue 12, item 14)
        rows[0]["tokens_eur"] = "803.8134"
        source = import_sessions(company, rows, name=f"{tag}-sessions.csv")
        dashboard = Dashboard.objects.create(company=company, name=f"{tag} files", last_days=90)
        dashboard.data_sources.set([source])
