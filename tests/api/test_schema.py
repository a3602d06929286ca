"""The OpenAPI schema and its docs page: complete, served without any CDN, and only to whom
API_DOCS_ACCESS says (logged-in staff by default)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client

from routing_service.tenancy.models import User
from tests.api.conftest import ApiFor

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_a: User) -> Client:
    """A company admin's browser session: staff, so the docs are theirs by default."""
    client = Client()
    client.force_login(admin_a)
    return client


PROVISIONING_PATHS = [
    "/api/v1/auth/token/",
    "/api/v1/ws-ticket/",
    "/api/v1/companies/",
    "/api/v1/companies/{id}/",
    "/api/v1/users/",
    "/api/v1/users/{id}/",
    "/api/v1/users/me/",
    "/api/v1/channels/",
    "/api/v1/channels/{id}/",
    "/api/v1/sla-policies/",
    "/api/v1/sla-policies/{id}/",
    "/api/v1/routing-policy/",
]


def test_schema_lists_every_provisioning_endpoint(staff: Client) -> None:
    response = staff.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert set(PROVISIONING_PATHS) <= set(schema["paths"])
    channel = schema["components"]["schemas"]["Channel"]["properties"]
    assert "secret" not in channel  # the response shape: write-only fields are not in it
    assert channel["uuid"]["readOnly"] is True
    assert "secret" in schema["components"]["schemas"]["ChannelRequest"]["properties"]
    assert "password" not in schema["components"]["schemas"]["User"]["properties"]


def test_docs_page_loads_no_asset_from_another_host(staff: Client) -> None:
    response = staff.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert references, "the page should reference its (local) assets"
    external = [ref for ref in references if re.match(r"^(https?:)?//", ref)]
    assert external == []
    assert "cdn" not in html.lower()


def test_docs_page_does_not_call_the_online_validator(staff: Client) -> None:
    """Swagger UI's default `validatorUrl` makes browsers fetch a badge from
    validator.swagger.io whenever the schema is not served from localhost."""
    script = staff.get("/api/docs/?script=").content.decode()
    assert re.search(r'"validatorUrl":\s*null', script)


def test_docs_page_has_no_inline_script_or_style(staff: Client) -> None:
    """Swagger UI runs under the site's Content-Security-Policy: its start-up script comes
    from a URL of its own (same origin), its page style from a file."""
    response = staff.get("/api/docs/")
    html = response.content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    script_url = re.search(r'<script src="(/api/docs/\?[^"]*script=[^"]*)"', html)
    assert script_url is not None
    script = staff.get(script_url.group(1).replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


SCHEMA = "/api/schema/"
DOCS = "/api/docs/"


def test_by_default_only_logged_in_staff_read_the_schema_and_docs(
    api: ApiFor, admin_a: User, agent_a: User, supervisor_a: User, staff: Client
) -> None:
    assert api(None).get(SCHEMA).status_code == 401
    assert api(agent_a).get(SCHEMA).status_code == 403
    assert api(supervisor_a).get(SCHEMA).status_code == 403
    assert api(admin_a).get(SCHEMA).status_code == 200
    # The page sends people to log in, and back.
    anonymous = Client().get(DOCS)
    assert anonymous.status_code == 302
    assert anonymous["Location"] == "/accounts/login/?next=/api/docs/"
    agent = Client()
    agent.force_login(agent_a)
    refused = agent.get(DOCS)
    assert refused.status_code == 403
    assert "Not allowed" in refused.content.decode()
    assert staff.get(DOCS).status_code == 200


def test_authenticated_lets_every_logged_in_user_read_them(
    settings: LazySettings, api: ApiFor, agent_a: User
) -> None:
    settings.API_DOCS_ACCESS = "authenticated"
    assert api(agent_a).get(SCHEMA).status_code == 200
    assert api(None).get(SCHEMA).status_code == 401
    agent = Client()
    agent.force_login(agent_a)
    assert agent.get(DOCS).status_code == 200


def test_public_opens_them_to_anyone(settings: LazySettings) -> None:
    settings.API_DOCS_ACCESS = "public"
    assert Client().get(SCHEMA).status_code == 200
    assert Client().get(DOCS).status_code == 200


def test_off_hides_them_even_from_staff(settings: LazySettings, staff: Client) -> None:
    settings.API_DOCS_ACCESS = "off"
    assert staff.get(SCHEMA).status_code == 404
    assert staff.get(DOCS).status_code == 404


def test_the_start_page_links_the_docs_only_for_who_may_read_them(
    settings: LazySettings, staff: Client, agent_a: User
) -> None:
    agent = Client()
    agent.force_login(agent_a)
    assert 'href="/api/docs/"' in staff.get("/").content.decode()
    assert 'href="/api/docs/"' not in agent.get("/").content.decode()
    settings.API_DOCS_ACCESS = "authenticated"
    assert 'href="/api/docs/"' in agent.get("/").content.decode()


def test_options_on_every_documented_path_describes_it(
    api: Any, admin_a: Any, agent_a: Any, sla_a: Any
) -> None:
    """DRF answers OPTIONS from the view's serializer; a view without one used to answer 500."""
    schema = api(admin_a).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    ids = {"{id}": str(sla_a.pk), "{agent_id}": str(agent_a.pk)}
    for role in (admin_a, agent_a):
        client = api(role)
        for template in schema["paths"]:
            path = template
            for placeholder, value in ids.items():
                path = path.replace(placeholder, value)
            response = client.options(path)
            assert response.status_code in (200, 401, 403, 404), (path, response.status_code)
            assert response["Content-Type"] == "application/json", path
