"""Probes: `/healthz` (liveness) and `/readyz` (readiness).

Liveness answers without touching anything: a process that answers is alive, and restarting it
because PostgreSQL is down would not help. Readiness checks what a web process needs to do its
job — the database, the Redis servers of the stream and the channel layer, and the router's
consumer group on every inbound shard (without it, accepted webhooks would sit unread) — each
with a short timeout, and names the checks that failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

from routing_service.observability.metrics import redis_client

logger = logging.getLogger(__name__)

Check = Callable[[], str | None]  # None: ok; a string: what is wrong


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No dependencies on purpose."""
    return JsonResponse({"status": "ok"})


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def _ping(url: str) -> str | None:
    try:
        redis_client(url).ping()
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def check_stream_redis() -> str | None:
    return _ping(settings.STREAM_REDIS_URL)


def check_channel_layer_redis() -> str | None:
    return _ping(settings.CHANNEL_LAYER_REDIS_URL)


def check_router_group() -> str | None:
    """The router's consumer group exists on every inbound shard stream."""
    from routing_service.ingest import stream

    group = settings.ROUTER_GROUP
    client = redis_client(settings.STREAM_REDIS_URL)
    missing: list[str] = []
    try:
        pipe = client.pipeline(transaction=False)
        keys = stream.all_stream_keys()
        for key in keys:
            pipe.xinfo_groups(key)
        for key, groups in zip(keys, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(groups, Exception):  # no such key: no group either
                missing.append(key)
                continue
            names = {
                g["name"].decode() if isinstance(g["name"], bytes) else g["name"] for g in groups
            }
            if group not in names:
                missing.append(key)
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    if missing:
        return f"consumer group {group!r} missing on {', '.join(missing)}"
    return None


CHECKS: dict[str, Check] = {
    "database": check_database,
    "stream_redis": check_stream_redis,
    "channel_layer_redis": check_channel_layer_redis,
    "router_group": check_router_group,
}


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every check passes, else 503 naming the failed ones."""
    checks: dict[str, str] = {}
    failed: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            problem = check()
        except Exception as exc:  # a probe must answer, whatever went wrong
            problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            checks[name] = "ok"
        else:
            checks[name] = "failed"
            failed[name] = problem
    if failed:
        logger.warning("not ready: %s", failed)
        return JsonResponse(
            {"status": "unavailable", "checks": checks, "failed": failed}, status=503
        )
    return JsonResponse({"status": "ok", "checks": checks})
