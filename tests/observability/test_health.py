"""`/healthz` and `/readyz`: cheap, unauthenticated, never redirected, and `/readyz` names
what is not ready. Real PostgreSQL and Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.test import AsyncClient, Client

from routing_service.ingest import stream


def create_router_groups(client: redis.Redis, group: str = "routers") -> None:
    for key in stream.all_stream_keys():
        client.xgroup_create(key, group, id="0", mkstream=True)


def test_healthz_answers_without_touching_the_database() -> None:
    # No django_db mark: any database access in the request would raise.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_healthz_answers_on_the_async_stack_too() -> None:
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_probes_skip_redirects_sessions_and_host_checks(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["switchboard.example"]
    response = Client().get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert "csrftoken" not in response.cookies


@pytest.mark.django_db
def test_readyz_is_200_when_database_redis_and_group_are_up(
    private_stream: redis.Redis, settings: Any
) -> None:
    settings.INBOUND_SHARDS = 2
    create_router_groups(private_stream)
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "stream_redis": "ok",
            "channel_layer_redis": "ok",
            "router_group": "ok",
        },
    }


@pytest.mark.django_db
def test_readyz_is_503_naming_the_missing_consumer_group(
    private_stream: redis.Redis, settings: Any
) -> None:
    settings.INBOUND_SHARDS = 2
    # The group exists on shard 0 only: shard 1's webhooks would never be routed.
    private_stream.xgroup_create(stream.stream_key(0), "routers", id="0", mkstream=True)
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["router_group"] == "failed"
    assert body["checks"]["database"] == "ok"
    assert list(body["failed"]) == ["router_group"]
    assert stream.stream_key(1) in body["failed"]["router_group"]
    assert stream.stream_key(0) not in body["failed"]["router_group"]


@pytest.mark.django_db
def test_readyz_is_503_naming_an_unreachable_redis(
    private_stream: redis.Redis, settings: Any
) -> None:
    create_router_groups(private_stream)
    settings.CHANNEL_LAYER_REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert set(response.json()["failed"]) == {"channel_layer_redis"}


def test_request_id_is_echoed_or_made() -> None:
    client = Client()
    given = client.get("/healthz", HTTP_X_REQUEST_ID="req-42.abc")
    assert given["X-Request-ID"] == "req-42.abc"
    made = client.get("/healthz")
    assert len(made["X-Request-ID"]) == 32
    hostile = client.get("/healthz", HTTP_X_REQUEST_ID="a b\tc<script>")
    assert hostile["X-Request-ID"] != "a b\tc<script>"
    assert len(hostile["X-Request-ID"]) == 32
