"""The router's hand-written reads return what the equivalent querysets return."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from routing_service.chats.models import Channel, Client, Provider
from routing_service.chats.queries import rows
from routing_service.tenancy.models import Company

pytestmark = pytest.mark.django_db


@pytest.fixture
def channels(company_a: Company, company_b: Company) -> list[Channel]:
    return [
        Channel.objects.create(
            company=company,
            name=name,
            provider=Provider.GENERIC,
            secret="s3cret",
            config={"callback_url": f"http://127.0.0.1/{name}", "retries": [1, 2]},
        )
        for company, name in ((company_a, "web"), (company_a, "app"), (company_b, "web"))
    ]


def test_equality_and_in_conditions_match_the_queryset(
    company_a: Company, channels: list[Channel]
) -> None:
    found = rows(Channel, {"company_id": company_a.pk, "name": ["web", "app", "other"]})

    expected = Channel.objects.unscoped().filter(company=company_a, name__in=["web", "app"])
    assert sorted(c.pk for c in found) == sorted(c.pk for c in expected)
    by_pk = {c.pk: c for c in found}
    for channel in expected:
        copy = by_pk[channel.pk]
        assert (copy.config, copy.uuid, copy.created_at) == (
            channel.config,
            channel.uuid,
            channel.created_at,
        )


def test_an_empty_in_list_matches_nothing_without_a_query(
    company_a: Company, channels: list[Channel], django_assert_num_queries: object
) -> None:
    with django_assert_num_queries(0):  # type: ignore[operator]
        assert rows(Channel, {"company_id": company_a.pk, "name": []}) == []


def test_fields_limit_the_columns_read_and_defer_the_rest(channels: list[Channel]) -> None:
    (channel,) = rows(Channel, {"id": channels[0].pk}, fields=("name",))

    assert channel.get_deferred_fields() >= {"config", "secret"}
    assert channel.name == "web"
    assert channel.config == channels[0].config  # loaded on access, like .only()


def test_rows_can_be_locked(company_a: Company) -> None:
    Client.objects.create(company=company_a, external_id="c-1", name="Ann")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        (client,) = rows(Client, {"company_id": company_a.pk}, for_update=True)
    assert client.name == "Ann"
    assert queries.captured_queries[-1]["sql"].endswith(" FOR UPDATE")
