"""The shared navigation (issue 12 item 15): every page links to the others its viewer's role
may open — the same rule the pages enforce (tenancy.pages) — and the chat dashboard's rows
link to what they name."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from routing_service.tenancy.models import Company, Role, User
from routing_service.tenancy.pages import PAGES, may_open
from tests.analytics.sample import Chats, make_chats

pytestmark = pytest.mark.django_db

# What each role is offered, in order: the matrix.
EXPECTED = {
    Role.AGENT: ["console"],
    Role.SUPERVISOR: ["console", "wallboard", "conversations", "chat-dashboard", "analytics"],
    Role.VIEWER: ["analytics"],
    Role.COMPANY_ADMIN: ["wallboard", "conversations", "chat-dashboard", "analytics", "admin"],
    Role.SUPERADMIN: ["wallboard", "conversations", "chat-dashboard", "analytics", "admin"],
}
NAV_LINK = re.compile(r'<a href="([^"]+)" data-page="([^"]+)"( aria-current="page")?>')


def nav(html: str) -> list[tuple[str, str, bool]]:
    """(page key, href, current) of the shared navigation's links."""
    return [(key, href, bool(current)) for href, key, current in NAV_LINK.findall(html)]


def person(make_user: Callable[..., User], company: Company, role: str) -> Client:
    user = make_user(None if role == Role.SUPERADMIN else company, role)
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_role_is_offered_exactly_the_pages_it_may_open(
    role: str, company_a: Company, make_user: Callable[..., User]
) -> None:
    client = person(make_user, company_a, role)
    html = client.get("/").content.decode()
    assert [key for key, _, _ in nav(html)] == EXPECTED[role]

    for page in PAGES:
        user = User(role=role, company=company_a, is_active=True)
        offered = page.key in EXPECTED[role]
        assert may_open(user, page.key) is offered
        response = client.get(page.path)
        if offered:
            # Opens (a superadmin first picks a company) and marks itself current.
            assert response.status_code == 200, page.key
            links = nav(response.content.decode())
            assert (page.key, page.path, True) in links
            assert [key for key, _, _ in links] == EXPECTED[role]
        elif page.key == "admin":
            assert response.status_code == 302  # Django's admin sends non-staff to its login
        elif page.key == "console" and role == Role.COMPANY_ADMIN:
            # Opens, to point the admin at the wallboard: their role cannot take chats.
            assert b"The console is for people who take chats" in response.content
        else:
            assert response.status_code == 403, page.key


def test_a_superadmin_keeps_the_company_across_pages(
    company_a: Company, make_user: Callable[..., User]
) -> None:
    client = person(make_user, company_a, Role.SUPERADMIN)
    html = client.get(f"/chat/dashboard/?company={company_a.pk}").content.decode()
    links = {key: href for key, href, _ in nav(html)}
    query = f"?company={company_a.pk}"
    assert links == {
        "wallboard": f"/wallboard/{query}",
        "conversations": f"/conversations/{query}",
        "chat-dashboard": f"/chat/dashboard/{query}",
        "analytics": f"/analytics/{query}",
        "admin": "/admin/",
    }
    assert client.get(links["wallboard"]).status_code == 200
    assert client.get(links["conversations"]).status_code == 200


def test_logged_out_pages_have_no_navigation(db: None) -> None:
    html = Client().get("/accounts/login/").content.decode()
    assert nav(html) == []
    assert 'id="theme-toggle"' not in html


@pytest.fixture
def chats(company_a: Company, company_b: Company, redis_client: object) -> Chats:
    make_chats(company_b, "globex")
    return make_chats(company_a, "acme")


def test_dashboard_rows_link_to_the_chat_and_agent_for_admins(
    chats: Chats, company_a: Company, make_user: Callable[..., User]
) -> None:
    client = person(make_user, company_a, Role.COMPANY_ADMIN)
    html = client.get("/chat/dashboard/").content.decode()
    # Chats open the supervisors' live view (issue 13 item 7); agents their admin page.
    assert f'href="/conversations/{chats.overdue.pk}/"' in html  # past due now
    assert f'href="/conversations/{chats.missed.pk}/"' in html  # missed in the last days
    assert f'href="/conversations/{chats.waiting_urgent.pk}/"' in html  # next in line
    agent = chats.agents[0]
    assert f'href="/admin/tenancy/user/{agent.pk}/change/"' in html  # the agent table
    assert f'href="/admin/tenancy/user/?q={agent.username}"' in html  # a past-due row's agent
    # Each link opens for this admin, and only the company's own rows are there.
    assert client.get(f"/conversations/{chats.overdue.pk}/").status_code == 200
    assert client.get(f"/admin/tenancy/user/{agent.pk}/change/").status_code == 200
    assert "globex" not in html


def test_supervisors_rows_open_the_live_view_but_not_the_admin(
    chats: Chats, company_a: Company, make_user: Callable[..., User]
) -> None:
    """Supervisors may not open the admin: agents stay plain text, chats open the live view."""
    client = person(make_user, company_a, Role.SUPERVISOR)
    html = client.get("/chat/dashboard/").content.decode()
    assert f'href="/conversations/{chats.overdue.pk}/"' in html
    assert client.get(f"/conversations/{chats.overdue.pk}/").status_code == 200
    assert "/admin/chats/conversation/" not in html
    assert "/admin/tenancy/user/" not in html
