"""The colour-scheme preference (issue 12 item 17): stored on the user, written on <html> by
the server before the first paint, changed by `POST /accounts/theme/`; the wallboard stays
dark. And the admin's audit trail (item 14): newest first, with the reason."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from routing_service.chats.models import AssignmentEvent
from routing_service.tenancy.models import Company, Role, Theme, User
from tests.analytics.sample import make_chats

pytestmark = pytest.mark.django_db

HTML_THEME = re.compile(r'<html [^>]*\bdata-theme="([a-z]+)"')


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def theme_of(client: Client, path: str) -> str:
    match = HTML_THEME.search(client.get(path).content.decode())
    assert match is not None
    return match.group(1)


@pytest.fixture
def supervisor(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.SUPERVISOR)


def test_the_choice_is_remembered_and_rendered_on_every_page(supervisor: User) -> None:
    client = logged_in(supervisor)
    assert theme_of(client, "/chat/dashboard/") == "auto"  # follows prefers-color-scheme

    response = client.post("/accounts/theme/", {"theme": "dark", "next": "/analytics/"})
    assert response.status_code == 302 and response["Location"] == "/analytics/"
    supervisor.refresh_from_db()
    assert supervisor.theme == Theme.DARK
    for path in ("/console/", "/chat/dashboard/", "/analytics/", "/"):
        assert theme_of(client, path) == "dark", path
    # Another browser of the same person gets it too: it is stored, not a cookie.
    assert theme_of(logged_in(supervisor), "/console/") == "dark"

    answer = client.post(
        "/accounts/theme/", {"theme": "light"}, headers={"Accept": "application/json"}
    )
    assert answer.status_code == 200 and answer.json() == {"theme": "light"}
    assert theme_of(client, "/analytics/") == "light"


def test_the_wallboard_stays_dark_without_a_toggle(supervisor: User) -> None:
    client = logged_in(supervisor)
    client.post("/accounts/theme/", {"theme": "light"})
    html = client.get("/wallboard/").content.decode()
    assert 'data-theme="dark"' in html
    assert 'id="theme-toggle"' not in html
    assert 'id="theme-toggle"' in client.get("/console/").content.decode()


def test_a_bad_choice_is_refused_with_the_field_and_changes_nothing(supervisor: User) -> None:
    client = logged_in(supervisor)
    answer = client.post(
        "/accounts/theme/", {"theme": "purple"}, headers={"Accept": "application/json"}
    )
    assert answer.status_code == 400
    assert list(answer.json()) == ["theme"]
    assert "system, light or dark" in answer.json()["theme"][0]
    # A page's form gets the page back with a readable message.
    response = client.post("/accounts/theme/", {"next": "/analytics/"}, follow=True)
    assert "Choose a colour scheme" in response.content.decode()
    supervisor.refresh_from_db()
    assert supervisor.theme == Theme.AUTO


def test_next_must_stay_on_the_site(supervisor: User) -> None:
    client = logged_in(supervisor)
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post("/accounts/theme/", {"theme": "dark", "next": target})
        assert response["Location"] == "/"


def test_only_a_signed_in_post_changes_it(supervisor: User) -> None:
    assert Client().post("/accounts/theme/", {"theme": "dark"}).status_code == 302  # to log in
    assert logged_in(supervisor).get("/accounts/theme/").status_code == 405
    supervisor.refresh_from_db()
    assert supervisor.theme == Theme.AUTO


def test_one_persons_choice_is_not_anothers(
    supervisor: User, make_user: Callable[..., User], company_b: Company
) -> None:
    other = make_user(company_b, Role.SUPERVISOR)
    logged_in(supervisor).post("/accounts/theme/", {"theme": "dark"})
    assert theme_of(logged_in(other), "/chat/dashboard/") == "auto"


def test_admin_audit_trail_is_newest_first_with_the_reason(
    company_a: Company, admin_a: User, redis_client: object
) -> None:
    chats = make_chats(company_a, "acme")
    newest = AssignmentEvent.objects.for_company(company_a).order_by("-created_at", "-id")[0]
    AssignmentEvent.objects.unscoped().filter(pk=newest.pk).update(
        reason="Customer asked for a German speaker"
    )
    html = logged_in(admin_a).get("/admin/chats/assignmentevent/").content.decode()
    assert "column-short_reason" in html
    assert "Customer asked for a German speaker" in html
    rows = re.findall(r'href="/admin/chats/assignmentevent/(\d+)/change/', html)
    ids = [int(pk) for pk in rows]
    events = AssignmentEvent.objects.for_company(company_a)
    assert ids == list(events.order_by("-created_at", "-id").values_list("pk", flat=True))
    assert ids[0] == newest.pk
    assert chats.met.pk  # the trail is the chats' own
