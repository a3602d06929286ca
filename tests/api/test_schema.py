"""The OpenAPI schema and its docs page: complete, and served without any CDN."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

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


def test_schema_lists_every_provisioning_endpoint() -> None:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert set(PROVISIONING_PATHS) <= set(schema["paths"])
    channel = schema["components"]["schemas"]["Channel"]["properties"]
    assert "secret" not in channel  # the response shape: write-only fields are not in it
    assert channel["uuid"]["readOnly"] is True
    assert "secret" in schema["components"]["schemas"]["ChannelRequest"]["properties"]
    assert "password" not in schema["components"]["schemas"]["User"]["properties"]


def test_docs_page_loads_no_asset_from_another_host() -> None:
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert references, "the page should reference its (local) assets"
    external = [ref for ref in references if re.match(r"^(https?:)?//", ref)]
    assert external == []
    assert "cdn" not in html.lower()


def test_docs_page_does_not_call_the_online_validator() -> None:
    """Swagger UI's default `validatorUrl` makes browsers fetch a badge from
    validator.swagger.io whenever the schema is not served from localhost."""
    html = Client().get("/api/docs/").content.decode()
    assert re.search(r'"validatorUrl":\s*null', html)


def test_options_on_every_documented_path_describes_it(
    api: Any, admin_a: Any, agent_a: Any, sla_a: Any
) -> None:
    """DRF answers OPTIONS from the view's serializer; a view without one used to answer 500."""
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
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
