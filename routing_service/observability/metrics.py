"""Prometheus metrics: what each process counts, and what is read at scrape time.

Counters, gauges and histograms live in prometheus_client's default registry of the process
that updates them: the web process (webhooks, websocket connections), the router (routing
latency), the SLA timer (warnings, breaches). The web process serves them at `/metrics` together
with the scrape-time collectors below, which read Redis and the database only when Prometheus
asks (one XLEN / XINFO GROUPS per shard, one COUNT, one GROUP BY on the queue index), so no hot
path pays for them. The router and the SLA timer serve their own registry on a port of their own
(`start_metrics_server`), since they are separate processes.
"""

from __future__ import annotations

import functools
import hmac
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from events import redis_clients
from routing_service.security.addresses import (
    IPNetwork,
    client_address,
    in_networks,
    parse_networks,
)

logger = logging.getLogger(__name__)

# --- updated where things happen ----------------------------------------------------------------

WEBHOOKS = Counter(
    "switchboard_webhooks",
    "Webhook requests answered, by provider and HTTP status.",
    ["provider", "status"],
)
ROUTING_LATENCY = Histogram(
    "switchboard_routing_latency_seconds",
    "Time from a message's arrival at the webhook to the router's commit.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
WEBSOCKET_CONNECTIONS = Gauge(
    "switchboard_websocket_connections",
    "Open websocket connections (accepted and authorised), by endpoint.",
    ["endpoint"],
)
SLA_WARNINGS = Counter(
    "switchboard_sla_warnings", "SLA warnings fired (committed), by timer kind.", ["kind"]
)
SLA_BREACHES = Counter(
    "switchboard_sla_breaches", "SLA breaches fired (committed), by timer kind.", ["kind"]
)

_PROVIDERS = frozenset({"generic", "twilio", "whatsapp", "telegram"})
_WEBHOOK_PREFIX = "/webhooks/"
# Label children cached: `.labels()` costs a lock and a dict lookup per call otherwise.
_webhook_children: dict[tuple[str, int], Any] = {}


def count_webhook(scope: Mapping[str, Any], status: int) -> None:
    """One webhook answered. Unknown provider segments share one label (bounded cardinality)."""
    path: str = scope.get("path", "")
    provider = path[len(_WEBHOOK_PREFIX) :].split("/", 1)[0]
    if provider not in _PROVIDERS:
        provider = "unknown"
    key = (provider, status)
    child = _webhook_children.get(key)
    if child is None:
        child = _webhook_children[key] = WEBHOOKS.labels(provider, str(status))
    child.inc()


class _Received(Protocol):
    @property
    def received_at(self) -> datetime: ...


def observe_routed(entries: Iterable[_Received | None]) -> None:
    """Routing latency of entries whose transaction just committed (one clock read a batch)."""
    now = datetime.now(UTC)
    observe = ROUTING_LATENCY.observe
    for entry in entries:
        if entry is not None:
            observe(max(0.0, (now - entry.received_at).total_seconds()))


def _endpoint(consumer: object) -> str:
    name = type(consumer).__name__.removesuffix("Consumer").lower()
    return name or "unknown"


def websocket_opened(consumer: Any) -> None:
    """Count a socket that became ready; `websocket_closed` undoes it once."""
    consumer._sb_counted = True
    WEBSOCKET_CONNECTIONS.labels(_endpoint(consumer)).inc()


def websocket_closed(consumer: Any) -> None:
    if getattr(consumer, "_sb_counted", False):
        consumer._sb_counted = False
        WEBSOCKET_CONNECTIONS.labels(_endpoint(consumer)).dec()


class _TypedEvent(Protocol):
    @property
    def type(self) -> str: ...

    @property
    def data(self) -> Mapping[str, Any]: ...


def count_sla_events(events: Sequence[_TypedEvent]) -> None:
    """Count committed `sla.warning` / `sla.breached` events (after commit: once each)."""
    for event in events:
        if event.type == "sla.warning":
            SLA_WARNINGS.labels(str(event.data.get("kind", ""))).inc()
        elif event.type == "sla.breached":
            SLA_BREACHES.labels(str(event.data.get("kind", ""))).inc()


# --- read at scrape time ------------------------------------------------------------------------

_SCRAPE_TIMEOUT = 2.0
_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client(url: str) -> redis.Redis:
    """A small, short-timeout client per URL for probes and scrapes (never a hot path)."""
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis_clients.sync_client(
                url,
                socket_connect_timeout=_SCRAPE_TIMEOUT,
                socket_timeout=_SCRAPE_TIMEOUT,
                max_connections=8,
            )
        return client


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _lag(group: Mapping[str, Any], last_generated_id: str) -> float:
    """XINFO GROUPS `lag`; Redis reports nil after deletions or trims (the router trims), when
    it is only known to be 0 if the group has seen the stream's last id. NaN: unknown."""
    if group.get("lag") is not None:
        return float(group["lag"])
    if _text(group["last-delivered-id"]) == last_generated_id:
        return 0.0
    return math.nan


class StreamCollector(Collector):
    """Inbound stream length, consumer-group lag and pending entries; dead-letter streams."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Names only: registering must not read Redis."""
        for name in (
            "switchboard_inbound_stream_length",
            "switchboard_inbound_consumer_lag",
            "switchboard_inbound_pending",
            "switchboard_dead_letter_stream_length",
            "switchboard_stream_scrape_ok",
        ):
            yield GaugeMetricFamily(name, "")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from routing_service.ingest import stream

        length = GaugeMetricFamily(
            "switchboard_inbound_stream_length",
            "Entries in an inbound shard stream (XLEN).",
            labels=["stream"],
        )
        lag = GaugeMetricFamily(
            "switchboard_inbound_consumer_lag",
            "Entries not yet delivered to the consumer group (XINFO GROUPS lag).",
            labels=["stream", "group"],
        )
        pending = GaugeMetricFamily(
            "switchboard_inbound_pending",
            "Entries delivered but not acknowledged (XINFO GROUPS pending).",
            labels=["stream", "group"],
        )
        dead = GaugeMetricFamily(
            "switchboard_dead_letter_stream_length",
            "Entries in a dead-letter stream.",
            labels=["stream"],
        )
        up = GaugeMetricFamily(
            "switchboard_stream_scrape_ok", "1 when the stream metrics could be read from Redis."
        )
        try:
            client = redis_client(settings.STREAM_REDIS_URL)
            keys = stream.all_stream_keys()
            dead_keys = [stream.dead_letter_key(s) for s in range(len(keys))]
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.xinfo_stream(key)
                pipe.xinfo_groups(key)
            for key in dead_keys:
                pipe.xlen(key)
            results = pipe.execute(raise_on_error=False)
            for i, key in enumerate(keys):
                info, groups = results[2 * i], results[2 * i + 1]
                if isinstance(info, Exception) or isinstance(groups, Exception):
                    length.add_metric([key], 0)  # no such key yet: nothing, no group either
                    continue
                length.add_metric([key], info["length"])
                last = _text(info["last-generated-id"])
                for group in groups:
                    name = _text(group["name"])
                    lag.add_metric([key, name], _lag(group, last))
                    pending.add_metric([key, name], group["pending"])
            for i, key in enumerate(dead_keys):
                xlen = results[2 * len(keys) + i]
                dead.add_metric([key], 0 if isinstance(xlen, Exception) else xlen)
            up.add_metric([], 1)
        except Exception as exc:  # a scrape reports the failure, it never fails itself
            logger.warning("stream metrics unavailable: %s", exc)
            up.add_metric([], 0)
        yield from (length, lag, pending, dead, up)


class DatabaseCollector(Collector):
    """Dead letters not replayed, and waiting chats by priority (one GROUP BY on the partial
    queue index, whose predicate is `status = 'waiting'`)."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Names only: registering must not query the database."""
        for name in (
            "switchboard_waiting_chats",
            "switchboard_dead_letters_unreplayed",
            "switchboard_db_scrape_ok",
        ):
            yield GaugeMetricFamily(name, "")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count

        from routing_service.chats.models import Conversation, ConversationStatus, Priority
        from routing_service.router.models import DeadLetter

        waiting = GaugeMetricFamily(
            "switchboard_waiting_chats",
            "Chats waiting in the queue, by priority.",
            labels=["priority"],
        )
        dead = GaugeMetricFamily(
            "switchboard_dead_letters_unreplayed", "DeadLetter rows not replayed yet."
        )
        up = GaugeMetricFamily(
            "switchboard_db_scrape_ok", "1 when the database metrics could be read."
        )
        try:
            counts = dict.fromkeys(Priority.values, 0)
            rows = (
                Conversation.objects.unscoped()
                .filter(status=ConversationStatus.WAITING)
                .values_list("priority")
                .annotate(n=Count("id"))
                .order_by()
            )
            for priority, n in rows:
                counts[priority] = n
            for priority, n in counts.items():
                waiting.add_metric([priority], n)
            dead.add_metric([], DeadLetter.objects.filter(replayed_at__isnull=True).count())
            up.add_metric([], 1)
        except Exception as exc:  # a scrape reports the failure, it never fails itself
            logger.warning("database metrics unavailable: %s", exc)
            up.add_metric([], 0)
        yield from (waiting, dead, up)


_registered = False
_register_lock = threading.Lock()


def register_scrape_collectors() -> None:
    """Add the scrape-time collectors to the default registry, once (web process only)."""
    global _registered
    with _register_lock:
        if not _registered:
            REGISTRY.register(StreamCollector())
            REGISTRY.register(DatabaseCollector())
            _registered = True


@functools.cache
def _networks(values: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return parse_networks("METRICS_ALLOWED_IPS", values)


def _from_allowed_address(request: HttpRequest) -> bool:
    allowed = _networks(tuple(settings.METRICS_ALLOWED_IPS))
    return in_networks(client_address(request), allowed)


def _bearer_ok(request: HttpRequest, token: str) -> bool:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`/metrics`: this process's metrics plus the scrape-time collectors, for clients from
    METRICS_ALLOWED_IPS or bearing METRICS_TOKEN. The client address is the proxy-aware one
    (`security/addresses.py`), though nginx refuses `/metrics` from outside anyway."""
    token: str = settings.METRICS_TOKEN
    if not _from_allowed_address(request) and not (token and _bearer_ok(request, token)):
        if not token:
            return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
        response = HttpResponse("Unauthorized.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    register_scrape_collectors()
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


_servers: MutableMapping[int, float] = {}


def start_metrics_server(port: int, *, addr: str | None = None) -> bool:
    """Serve this process's default registry on `port` (0: off). Once per port and process."""
    if port <= 0 or port in _servers:
        return False
    host = addr if addr is not None else getattr(settings, "METRICS_ADDR", "0.0.0.0")  # noqa: S104
    start_http_server(port, addr=host)
    _servers[port] = time.time()
    logger.info("metrics served on %s:%d", host, port)
    return True
