"""Console alert switches (issue 13 item 8): stored on the user, changed by
`POST /accounts/console-alerts/` (JSON, field errors), handed to every console in its config;
each person changes only their own."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.test import Client

from routing_service.tenancy import alert_preferences
from routing_service.tenancy.models import Company, Role, User

pytestmark = pytest.mark.django_db

URL = "/accounts/console-alerts/"


def logged_in(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def post(client: Client, body: object) -> object:
    return client.post(URL, json.dumps(body), content_type="application/json")


def console_config(client: Client) -> dict[str, object]:
    response = client.get("/console/")
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('id="console-config"')
    raw = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return json.loads(raw)


def test_defaults_then_a_change_is_stored_and_reaches_every_console(
    make_user: Callable[..., User], company_a: Company
) -> None:
    agent = make_user(company_a, Role.AGENT)
    client = logged_in(agent)
    assert client.get(URL).json() == alert_preferences.DEFAULTS
    assert console_config(client)["alerts"] == alert_preferences.DEFAULTS

    answer = post(client, {"offer_sound": False, "sla_desktop": False})

    assert answer.status_code == 200
    assert answer.json()["offer_sound"] is False and answer.json()["urgent_sound"] is True
    agent.refresh_from_db()
    assert agent.console_alerts["offer_sound"] is False
    # Another browser of the same person: stored server-side, not in the browser.
    config = console_config(logged_in(agent))
    assert config["alerts"]["offer_sound"] is False
    assert config["alerts"]["sla_desktop"] is False
    assert config["api"]["alerts"] == URL


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"offer_sound": "no"}, "offer_sound"),
        ({"volume": True}, "volume"),
        (["offer_sound"], "non_field_errors"),
    ],
)
def test_bad_changes_name_the_field_and_change_nothing(
    make_user: Callable[..., User], company_a: Company, body: object, field: str
) -> None:
    agent = make_user(company_a, Role.AGENT)
    answer = post(logged_in(agent), body)
    assert answer.status_code == 400
    assert field in answer.json()
    agent.refresh_from_db()
    assert agent.console_alerts == {}


def test_a_change_is_one_persons_own(
    make_user: Callable[..., User], company_a: Company, company_b: Company
) -> None:
    mine = make_user(company_a, Role.AGENT)
    colleague = make_user(company_a, Role.AGENT)
    other = make_user(company_b, Role.AGENT)
    post(logged_in(mine), {"urgent_desktop": False})
    for person in (colleague, other):
        person.refresh_from_db()
        assert person.console_alerts == {}


def test_needs_a_session_and_the_csrf_token(
    make_user: Callable[..., User], company_a: Company
) -> None:
    assert Client().post(URL, "{}", content_type="application/json").status_code == 302
    agent = make_user(company_a, Role.AGENT)
    refused = post(logged_in(agent, csrf=True), {"offer_sound": False})
    assert refused.status_code == 403
