"""`/api/v1/queues/` `auto_reply` templates: stored per language, unknown variables refused
naming the field, and another company's queue out of reach."""

from __future__ import annotations

import pytest

from routing_service.queues.models import Queue
from routing_service.tenancy.models import Company, User
from tests.api.conftest import ApiFor

pytestmark = pytest.mark.django_db


def test_templates_are_stored_and_unknown_variables_refused(
    api: ApiFor, admin_a: User, company_a: Company
) -> None:
    queue = Queue.objects.unscoped().get(company=company_a, is_default=True)
    url = f"/api/v1/queues/{queue.pk}/"
    good = {
        "on_arrival": {
            "enabled": True,
            "templates": {"en": "You are number {{position}}, ~{{wait_minutes}} min.", "de": "Nr."},
        },
        "out_of_hours": {"enabled": True, "templates": {"en": "Back {{ next_opening }}."}},
    }
    stored = api(admin_a).patch(url, {"auto_reply": good}, format="json")
    assert stored.status_code == 200, stored.json()
    assert stored.json()["auto_reply"] == good

    bad = {"on_arrival": {"enabled": True, "templates": {"en": "Hi {{client.email}}"}}}
    refused = api(admin_a).patch(url, {"auto_reply": bad}, format="json")
    assert refused.status_code == 400
    assert "auto_reply.on_arrival.templates.en" in refused.json()
    queue.refresh_from_db()
    assert queue.auto_reply == good


def test_another_company_cannot_change_the_templates(
    api: ApiFor, make_user: object, company_a: Company, company_b: Company
) -> None:
    from routing_service.tenancy.models import Role

    admin_b = make_user(company_b, Role.COMPANY_ADMIN)  # type: ignore[operator]
    queue = Queue.objects.unscoped().get(company=company_a, is_default=True)
    answer = api(admin_b).patch(
        f"/api/v1/queues/{queue.pk}/",
        {"auto_reply": {"on_arrival": {"enabled": True, "templates": {"en": "x"}}}},
        format="json",
    )
    assert answer.status_code == 404
    queue.refresh_from_db()
    assert queue.auto_reply == {}
