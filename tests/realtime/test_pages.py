"""`/console/` and `/wallboard/`: who may open them, for which company, and the config the
browser gets to open its socket."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from routing_service.tenancy.models import Company, Role, User

pytestmark = pytest.mark.django_db


def page(user: User | None, path: str) -> Any:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(path)


def config(response: Any, name: str) -> dict[str, Any]:
    html = response.content.decode()
    marker = f'<script id="{name}" type="application/json">'
    start = html.index(marker) + len(marker)
    data: dict[str, Any] = json.loads(html[start : html.index("</script>", start)])
    return data


@pytest.mark.parametrize("path", ["/console/", "/wallboard/"])
def test_anonymous_visitors_are_sent_to_the_login_page(path: str) -> None:
    response = page(None, path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_an_agent_gets_the_console_with_what_its_socket_needs(
    agent_a: User, company_a: Company, sla_a: None
) -> None:
    response = page(agent_a, "/console/")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    data = config(response, "console-config")
    assert data["user"] == {
        "id": agent_a.pk,
        "username": agent_a.username,
        "name": agent_a.username,
        "role": "agent",
    }
    assert data["company"] == {"id": company_a.pk, "name": company_a.name}
    assert data["ws_url"] == "/ws/agent/"
    assert data["csrf_token"]
    assert data["heartbeat_seconds"] == 10
    assert data["api"] == {
        "conversations": "/api/v1/conversations/",
        "users": "/api/v1/users/",
        "notifications": "/api/v1/notifications/",
        "labels": "/api/v1/labels/",
        "canned": "/api/v1/canned-responses/",
        "clients": "/api/v1/clients/",
        "attachments": "/api/v1/attachments/",
        "alerts": "/accounts/console-alerts/",
    }
    # The sound and desktop-notification switches, all on until the person changes them.
    assert data["alerts"] == dict.fromkeys(
        [
            "offer_desktop",
            "offer_sound",
            "urgent_desktop",
            "urgent_sound",
            "sla_desktop",
            "sla_sound",
        ],
        True,
    )
    # An agent manages their own canned responses, not the shared ones nor the labels.
    assert (data["can_manage_shared_canned"], data["can_manage_labels"]) == (False, False)
    # 10-minute first response and 60-minute resolution, warned at 80 %: the last 20 %.
    assert data["sla_windows"]["urgent"] == {"first_response": 120.0, "resolution": 720.0}
    assert b"console/main.js" in response.content


def test_an_agent_cannot_open_the_wallboard(agent_a: User) -> None:
    response = page(agent_a, "/wallboard/")
    assert response.status_code == 403
    assert b"Not allowed" in response.content
    assert b"Supervisor" in response.content


def test_a_supervisor_opens_both_pages(supervisor_a: User, company_a: Company) -> None:
    assert config(page(supervisor_a, "/console/"), "console-config")["ws_url"] == "/ws/agent/"
    response = page(supervisor_a, "/wallboard/")
    assert response.status_code == 200
    data = config(response, "wallboard-config")
    assert data["ws_url"] == "/ws/wallboard/"
    assert data["company"]["id"] == company_a.pk
    assert b"wallboard/wallboard.js" in response.content


def test_a_company_admin_is_pointed_from_the_console_to_the_wallboard(admin_a: User) -> None:
    response = page(admin_a, "/console/")
    assert response.status_code == 200
    # Their role cannot take chats (the agent socket closes with 4403): no live console.
    assert b"console-config" not in response.content
    assert b"console/main.js" not in response.content
    assert b'href="/wallboard/"' in response.content
    assert page(admin_a, "/wallboard/").status_code == 200


@pytest.mark.parametrize("path", ["/console/", "/wallboard/"])
def test_a_viewer_gets_a_readable_refusal(
    make_user: Callable[..., User], company_a: Company, path: str
) -> None:
    viewer = make_user(company_a, Role.VIEWER)
    response = page(viewer, path)
    assert response.status_code == 403
    assert b"Not allowed" in response.content
    assert b"Viewer" in response.content


def test_a_superadmin_chooses_the_company_of_the_wallboard(
    superadmin: User, company_a: Company, company_b: Company
) -> None:
    chooser = page(superadmin, "/wallboard/")
    assert chooser.status_code == 200
    assert f'href="/wallboard/?company={company_a.pk}"'.encode() in chooser.content
    assert f'href="/wallboard/?company={company_b.pk}"'.encode() in chooser.content

    response = page(superadmin, f"/wallboard/?company={company_b.pk}")
    assert response.status_code == 200
    data = config(response, "wallboard-config")
    assert data["ws_url"] == f"/ws/wallboard/?company={company_b.pk}"
    assert data["company"] == {"id": company_b.pk, "name": company_b.name}

    assert page(superadmin, "/wallboard/?company=999999").status_code == 404
    assert page(superadmin, "/wallboard/?company=abc").status_code == 404
    assert page(superadmin, "/console/").status_code == 403


def test_members_of_an_inactive_company_are_refused(agent_a: User, company_a: Company) -> None:
    company_a.is_active = False
    company_a.save()
    response = page(agent_a, "/console/")
    assert response.status_code == 403
    assert b"not active" in response.content


def test_names_in_the_config_cannot_break_out_of_the_script(
    make_agent: Callable[..., User], company_a: Company
) -> None:
    company_a.name = "</script><script>alert(1)</script>"
    company_a.save()
    agent = make_agent(company_a, first_name="<img src=x onerror=alert(1)>")
    response = page(agent, "/console/")
    assert b"<script>alert(1)" not in response.content
    assert b"<img src=x" not in response.content
    data = config(response, "console-config")
    assert data["company"]["name"] == "</script><script>alert(1)</script>"
    assert data["user"]["name"] == "<img src=x onerror=alert(1)>"
