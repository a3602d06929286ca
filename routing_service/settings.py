"""Switchboard settings: one file, driven by the environment.

Every knob has a safe default so that `DEBUG=true manage.py runserver` works on a laptop (with
DEBUG off a SECRET_KEY is required); production sets `DATABASE_URL`, `REDIS_URL`, `SECRET_KEY`,
`DEBUG=false`, `ALLOWED_HOSTS`, `CSRF_TRUSTED_ORIGINS` and the HTTPS settings of
deploy/.env.example. Bad values raise ImproperlyConfigured at start-up, not at first use; bad
combinations are system checks (routing_service/security/checks.py, realtime/checks.py).
"""

from __future__ import annotations

import ipaddress
import os
from email.utils import parseaddr
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from routing_service.observability.logging import configure_logging
from routing_service.outbound.destinations import parse_allowed_hosts

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SWITCHBOARD_VAR_DIR", BASE_DIR / "var"))

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def redis_url(name: str, default: str) -> str:
    value = os.environ.get(name, default)
    if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"{name} must be a redis://, rediss:// or unix:// URL")
    redis_db(name, value)  # validates the database number
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def env_networks(name: str, default: list[str]) -> list[str]:
    """IP addresses or CIDR networks, comma-separated (checked here, parsed where used)."""
    values = env_list(name, default)
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {value!r} is not an IP address or network (CIDR)"
            ) from None
    return values


def redis_db(name: str, url: str) -> int:
    """The database number a Redis URL selects, as redis-py reads it: `?db=` first, then the
    path (`redis://host:6379/3`), else 0."""
    parts = urlsplit(url)
    raw = parse_qs(parts.query).get("db", [""])[0]
    if not raw and parts.scheme != "unix":
        raw = parts.path.lstrip("/")
    if not raw:
        return 0
    if not raw.isdigit():
        raise ImproperlyConfigured(f"{name} has a bad database number: {raw!r}")
    return int(raw)


DEBUG = env_bool("DEBUG", default=False)
# Signs sessions, CSRF tokens, password-reset links and websocket tickets. With DEBUG off it
# must be given, and long and varied enough that Django's deploy check accepts it.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
SECRET_KEY_MIN_LENGTH = 50
if DEBUG:
    # A development key: fine locally, never accepted with DEBUG off.
    SECRET_KEY = SECRET_KEY or "django-insecure-switchboard-dev-key-change-me"
elif not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is off (DEBUG=true for a local development key)"
    )
elif (
    len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith("django-insecure-")
):
    raise ImproperlyConfigured(
        f"SECRET_KEY must be at least {SECRET_KEY_MIN_LENGTH} random characters when DEBUG is "
        "off, e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if urlsplit(_origin).scheme not in {"http", "https"}:
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS entries need a scheme: {_origin!r}")

INSTALLED_APPS = [
    "daphne",
    # Before django.contrib.auth so that its `changepassword` command (through the action that
    # revokes tokens and sockets) replaces Django's, as daphne's `runserver` does.
    "routing_service.tenancy",
    # Django's admin with Switchboard's site: its login is throttled (routing_service/security)
    # and its own password page saves through the revoking action (tenancy/admin_site.py).
    "routing_service.security.apps.SwitchboardAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_dramatiq",
    "csp",
    # The bottom layer (event schema, outbox, log): imports none of the apps below.
    "events",
    "routing_service.chats",
    "routing_service.queues",
    "routing_service.ingest",
    "routing_service.router",
    "routing_service.outbound",
    "routing_service.attachments",
    "routing_service.retention",
    "routing_service.api",
    "realtime",
    "sla_engine",
    "analytics",
]

MIDDLEWARE = [
    # First: every request gets an id; probes are answered before redirects, sessions and auth.
    "routing_service.observability.middleware.RequestIdMiddleware",
    "routing_service.observability.middleware.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language (cookie of the switcher, else Accept-Language); a signed-in
    # user's own choice and time zone are activated below, once the user is known.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "routing_service.db.replica.PinWritersMiddleware",
    "routing_service.tenancy.middleware.CompanyMiddleware",
    "routing_service.i18n.middleware.UserLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "routing_service.urls"
ASGI_APPLICATION = "routing_service.asgi.application"
WSGI_APPLICATION = None
AUTH_USER_MODEL = "tenancy.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "routing_service" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "routing_service.i18n.context.locale",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# PostgreSQL in production and tests; SQLite for a zero-setup local run. SQLite gets
# IMMEDIATE transactions so concurrent writers (web, router, timer) queue on the write lock
# instead of failing with "database is locked" when a read transaction tries to upgrade.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    try:
        _db: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL, conn_max_age=0))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not valid: {exc}") from exc
    if _db["ENGINE"] == "django.db.backends.postgresql":
        _db.setdefault("OPTIONS", {})
        # psycopg 3's pool: one per process, shared by the threads Django runs sync code in.
        if env_bool("DATABASE_POOL", default=True):
            _db["OPTIONS"]["pool"] = {
                "min_size": env_int("DATABASE_POOL_MIN", 1),
                "max_size": env_int("DATABASE_POOL_MAX", 10, minimum=1),
                "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
            }
        # Behind PgBouncer in transaction mode a server connection is ours only for one
        # transaction: a server-side cursor (QuerySet.iterator() outside a transaction) would be
        # fetched from a connection that never declared it. Nothing else here keeps session
        # state: advisory locks and set_config() are transaction-scoped, psycopg's automatic
        # prepared statements are off (Django's default prepare_threshold=None), and nothing
        # LISTENs. docs/operations.md, "PgBouncer".
        if env_bool("DATABASE_PGBOUNCER", default=False):
            _db["DISABLE_SERVER_SIDE_CURSORS"] = True
        _db["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_switchboard")}
    elif _db["ENGINE"] != "django.db.backends.sqlite3":
        raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL or SQLite")
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "switchboard.sqlite3",
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
DATABASES = {"default": _db}

# A streaming replica for the read-mostly pages (dashboards, session search, exports): only
# reads chosen in code go there, guarded against lag and for a user's own writes
# (routing_service/db/replica.py; docs/operations.md, "Read replica").
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
DATABASE_REPLICA_PIN_SECONDS = env_int("DATABASE_REPLICA_PIN_SECONDS", 10)
DATABASE_REPLICA_MAX_LAG_SECONDS = env_int("DATABASE_REPLICA_MAX_LAG_SECONDS", 5)
DATABASE_REPLICA_CONNECT_TIMEOUT = env_int("DATABASE_REPLICA_CONNECT_TIMEOUT", 2, minimum=1)
DATABASE_ROUTERS: list[str] = []
if DATABASE_REPLICA_URL:
    try:
        _replica: dict[str, Any] = dict(dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=0))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL is not valid: {exc}") from exc
    if _replica["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must point to PostgreSQL")
    if _db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs DATABASE_URL to be PostgreSQL")
    _replica["OPTIONS"] = {
        **_replica.get("OPTIONS", {}),
        # An unreachable replica costs a page this long once a second at most, then the
        # primary answers.
        "connect_timeout": DATABASE_REPLICA_CONNECT_TIMEOUT,
    }
    if "pool" in _db.get("OPTIONS", {}):
        _replica["OPTIONS"]["pool"] = {
            **_db["OPTIONS"]["pool"],
            "timeout": DATABASE_REPLICA_CONNECT_TIMEOUT,
        }
    if _db.get("DISABLE_SERVER_SIDE_CURSORS"):
        _replica["DISABLE_SERVER_SIDE_CURSORS"] = True
    # Tests: the replica alias reads the test database (of the same name) on its own server.
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
    DATABASE_ROUTERS = ["routing_service.db.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: one URL, four roles (each may be overridden) -------------------------------------
REDIS_URL = redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL_LAYER_REDIS_URL = redis_url("CHANNEL_LAYER_REDIS_URL", REDIS_URL)
CACHE_REDIS_URL = redis_url("CACHE_REDIS_URL", REDIS_URL)
DRAMATIQ_REDIS_URL = redis_url("DRAMATIQ_REDIS_URL", REDIS_URL)
STREAM_REDIS_URL = redis_url("STREAM_REDIS_URL", REDIS_URL)
# Redis Cluster (docs/operations.md "Redis Cluster"): every URL above names a seed node of a
# cluster, and every client is a cluster client (events/redis_clients.py). A cluster has only
# database 0, so deployments sharing one are told apart by REDIS_KEY_PREFIX alone.
REDIS_CLUSTER = env_bool("REDIS_CLUSTER", default=False)
if REDIS_CLUSTER:
    for _role, _url in {
        "REDIS_URL": REDIS_URL,
        "CHANNEL_LAYER_REDIS_URL": CHANNEL_LAYER_REDIS_URL,
        "CACHE_REDIS_URL": CACHE_REDIS_URL,
        "DRAMATIQ_REDIS_URL": DRAMATIQ_REDIS_URL,
        "STREAM_REDIS_URL": STREAM_REDIS_URL,
    }.items():
        if urlsplit(_url).scheme == "unix":
            raise ImproperlyConfigured(f"{_role}: a Redis Cluster is reached over TCP, not unix://")
        if redis_db(_role, _url) != 0:
            raise ImproperlyConfigured(
                f"{_role}: a Redis Cluster has only database 0; isolate with REDIS_KEY_PREFIX"
            )
# A webhook answers 202 only once this many replicas have the appended entry (WAIT), so a
# primary that dies right after cannot take an accepted message with it; fewer in
# REDIS_WAIT_TIMEOUT_MS make the answer "unknown" (503), which the provider retries.
REDIS_WAIT_REPLICAS = env_int("REDIS_WAIT_REPLICAS", 1 if REDIS_CLUSTER else 0)
REDIS_WAIT_TIMEOUT_MS = env_int("REDIS_WAIT_TIMEOUT_MS", 500, minimum=1)
# Prefix for every key Switchboard writes, so several deployments (or test runs) share a server.
REDIS_KEY_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "sb")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "KEY_PREFIX": f"{REDIS_KEY_PREFIX}:cache",
    }
}
if REDIS_CLUSTER:
    # Django's Redis cache with a cluster client (multi-key calls split by slot).
    CACHES["default"]["BACKEND"] = "routing_service.cluster_cache.ClusterRedisCache"

# The pub/sub layer: no per-channel queues to overflow, ~5x the group_send rate of the default
# layer. Events are also written to a durable log (events/log.py), which is the record.
# Keys live in the URL's database, but pub/sub channels are server-wide: the default prefix
# names the database too, so deployments sharing a server on different database numbers (or
# key prefixes) never hear each other's events.
CHANNEL_LAYER_PREFIX = os.environ.get(
    "CHANNEL_LAYER_PREFIX",
    f"{REDIS_KEY_PREFIX}:db{redis_db('CHANNEL_LAYER_REDIS_URL', CHANNEL_LAYER_REDIS_URL)}:ws",
).strip()
if not CHANNEL_LAYER_PREFIX or any(c.isspace() for c in CHANNEL_LAYER_PREFIX):
    raise ImproperlyConfigured("CHANNEL_LAYER_PREFIX must be a non-empty name without spaces")
CHANNEL_LAYERS = {
    "default": {
        # channels-redis' pub/sub layer with batched (un)subscribes: survives reconnect storms
        # (realtime/layers.py; measured in realtime/PROTOCOL.md).
        "BACKEND": "realtime.layers.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [CHANNEL_LAYER_REDIS_URL], "prefix": CHANNEL_LAYER_PREFIX},
    }
}
if REDIS_CLUSTER:
    # Sharded pub/sub (SSUBSCRIBE/SPUBLISH): each channel lives on its slot's primary.
    CHANNEL_LAYERS["default"]["BACKEND"] = "realtime.cluster_layer.ShardedPubSubChannelLayer"

# --- dramatiq (docs/operations.md "Workers") ---------------------------------------------------
# redis:// (default: DRAMATIQ_REDIS_URL) or amqp:// for RabbitMQ (isolate deployments by vhost).
DRAMATIQ_BROKER_URL = os.environ.get("DRAMATIQ_BROKER_URL", "").strip() or DRAMATIQ_REDIS_URL
_broker_scheme = urlsplit(DRAMATIQ_BROKER_URL).scheme
if _broker_scheme not in {"redis", "rediss", "unix", "amqp", "amqps"}:
    raise ImproperlyConfigured(
        "DRAMATIQ_BROKER_URL must be a redis://, rediss://, unix://, amqp:// or amqps:// URL"
    )
# Redis broker: a worker that sent no command for this long (ms) is dead, and the messages it
# had fetched are put back on their queues by the next "maintenance" pass, which runs on this
# many commands out of a million. Live workers poll every queue about once a second, so 15 s and
# 250000 requeue a killed worker's jobs some 15-25 s after its death (dramatiq's defaults, 60 s
# and 1000, took up to ~10 minutes). Dead-lettered messages are kept DEAD_MESSAGE_TTL_MS.
DRAMATIQ_HEARTBEAT_TIMEOUT_MS = env_int("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", 15_000, minimum=2_000)
DRAMATIQ_MAINTENANCE_CHANCE = env_int("DRAMATIQ_MAINTENANCE_CHANCE", 250_000, minimum=1)
if DRAMATIQ_MAINTENANCE_CHANCE > 1_000_000:
    raise ImproperlyConfigured("DRAMATIQ_MAINTENANCE_CHANCE is out of a million: at most 1000000")
DRAMATIQ_DEAD_MESSAGE_TTL_MS = env_int(
    "DRAMATIQ_DEAD_MESSAGE_TTL_MS", 7 * 24 * 3600 * 1000, minimum=60_000
)
if _broker_scheme.startswith("amqp"):
    # RabbitMQ requeues a dead worker's unacknowledged messages as soon as its connection
    # closes; publisher confirms make `send()` return only once the broker has the message.
    _broker: dict[str, Any] = {
        "BROKER": "dramatiq.brokers.rabbitmq.RabbitmqBroker",
        "OPTIONS": {"url": DRAMATIQ_BROKER_URL, "confirm_delivery": True},
    }
else:
    _broker = {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        "OPTIONS": {
            "url": DRAMATIQ_BROKER_URL,
            "namespace": f"{REDIS_KEY_PREFIX}:dramatiq",
            "heartbeat_timeout": DRAMATIQ_HEARTBEAT_TIMEOUT_MS,
            "maintenance_chance": DRAMATIQ_MAINTENANCE_CHANCE,
            "dead_message_ttl": DRAMATIQ_DEAD_MESSAGE_TTL_MS,
        },
    }
if REDIS_CLUSTER and _broker["BROKER"].endswith("RedisBroker"):
    # Every broker key under one hash tag, through a cluster client (the broker's docstring).
    _broker["BROKER"] = "routing_service.cluster_broker.ClusterRedisBroker"
DRAMATIQ_BROKER = {
    **_broker,
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Retries",
        # The running task's message id: a delivery that was cut short by its worker's death
        # is taken over by the redelivered task at once (routing_service/outbound/delivery.py).
        "dramatiq.middleware.CurrentMessage",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        # Worker metrics on DRAMATIQ_METRICS_ADDR:DRAMATIQ_METRICS_PORT, see below.
        "routing_service.observability.dramatiq.Prometheus",
    ],
}
DRAMATIQ_TASKS_DATABASE = "default"
DRAMATIQ_AUTODISCOVER_MODULES = ["tasks"]

# --- Streams, routing, realtime ------------------------------------------------------------
INBOUND_STREAM = os.environ.get("INBOUND_STREAM", f"{REDIS_KEY_PREFIX}:inbound")
DEAD_LETTER_STREAM = os.environ.get("DEAD_LETTER_STREAM", f"{REDIS_KEY_PREFIX}:inbound:dead")
ROUTER_GROUP = os.environ.get("ROUTER_GROUP", "routers")
# The inbound stream is partitioned by company into this many shards (see ingest/stream.py).
# One router reads a shard at a time (router/leases.py): routers scale only up to this number.
# Changing it on a live system needs a drain (docs/CHANGES.md, "Scale-out").
INBOUND_SHARDS = env_int("INBOUND_SHARDS", 8, minimum=1)
# How long the webhook remembers a provider message id to answer retries with 200.
INBOUND_DEDUPE_TTL = env_int("INBOUND_DEDUPE_TTL", 7 * 24 * 3600, minimum=60)
# Entries read per shard per turn: larger batches amortise the per-transaction statements
# (measured: 500 routes ~12 % more per second than 200); a quiet stream still returns at once.
ROUTER_BATCH_SIZE = env_int("ROUTER_BATCH_SIZE", 500, minimum=1)
ROUTER_MAX_ATTEMPTS = env_int("ROUTER_MAX_ATTEMPTS", 5, minimum=1)
# A pending entry idle this long (its router died or failed it) is claimed by another router.
ROUTER_CLAIM_IDLE_MS = env_int("ROUTER_CLAIM_IDLE_MS", 30_000, minimum=100)
ROUTER_BLOCK_MS = env_int("ROUTER_BLOCK_MS", 1000, minimum=10)
# Database threads (and connections) per router: a batch read from several shards is recorded
# by this many transactions at once, so one lane's Python work overlaps another's database time.
ROUTER_DB_LANES = env_int("ROUTER_DB_LANES", 2, minimum=1)
# One router at a time reads a shard (router/leases.py): its lease lives this long unless renewed
# every ROUTER_LEASE_RENEW_MS; a dead router's shards are taken over after the TTL.
ROUTER_LEASE_TTL_MS = env_int("ROUTER_LEASE_TTL_MS", 10_000, minimum=200)
ROUTER_LEASE_RENEW_MS = env_int("ROUTER_LEASE_RENEW_MS", 2_000, minimum=50)
# Acknowledged entries are trimmed from the inbound stream after this many seconds.
INBOUND_RETENTION_SECONDS = env_int("INBOUND_RETENTION_SECONDS", 3600)
# How long after resolve a customer's message can still answer the satisfaction survey.
CSAT_WINDOW_HOURS = env_int("CSAT_WINDOW_HOURS", 24, minimum=1)
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# Behind a trusted reverse proxy, rebuild the public webhook URL (Twilio signs it) from
# X-Forwarded-Proto / X-Forwarded-Host. Off by default: anyone could send those headers.
WEBHOOK_TRUST_FORWARDED_HEADERS = env_bool("WEBHOOK_TRUST_FORWARDED_HEADERS", default=False)
# The public base URL used to build webhook URLs shown to admins.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
WS_TICKET_TTL_SECONDS = env_int("WS_TICKET_TTL_SECONDS", 60, minimum=5)
# Websocket limits (realtime/PROTOCOL.md): a bigger frame closes with 1009, a client sending
# faster than the token bucket allows (rate per second, burst) closes with 4408.
WS_MAX_FRAME_BYTES = env_int("WS_MAX_FRAME_BYTES", 64 * 1024, minimum=1024)
WS_RATE_PER_SECOND = env_int("WS_RATE_PER_SECOND", 20, minimum=1)
WS_RATE_BURST = env_int("WS_RATE_BURST", 40, minimum=1)
# A reconnect that missed more events than this gets a fresh snapshot instead of the replay.
WS_REPLAY_MAX_EVENTS = env_int("WS_REPLAY_MAX_EVENTS", 2000, minimum=1)
# How many waiting chats (and at-risk chats) a snapshot lists; counts are always complete.
WS_SNAPSHOT_LIST_LIMIT = env_int("WS_SNAPSHOT_LIST_LIMIT", 200, minimum=1)
# Wallboard stats: at most one `wallboard.stats` per company per interval, only after a change.
WS_WALLBOARD_INTERVAL_MS = env_int("WS_WALLBOARD_INTERVAL_MS", 1000, minimum=100)
# How many sockets one web process sets up at a time (auth, join, catch-up); the others are
# accepted and wait their turn, so a reconnect storm queues instead of timing out handshakes.
WS_CONNECT_CONCURRENCY = env_int("WS_CONNECT_CONCURRENCY", 32, minimum=1)
# How often each web process re-checks the users of its open sockets (one query), closing those
# whose credentials changed: the bound when the immediate close message was lost
# (realtime/revocation.py). Actions re-check on every frame regardless.
WS_REVALIDATE_SECONDS = env_int("WS_REVALIDATE_SECONDS", 30, minimum=1)
# Presence (realtime/presence.py): consoles refresh every HEARTBEAT s; a console silent for
# TIMEOUT s counts as closed; an agent with no console left for GRACE s goes `away`.
PRESENCE_HEARTBEAT_SECONDS = env_int("PRESENCE_HEARTBEAT_SECONDS", 10, minimum=1)
PRESENCE_TIMEOUT_SECONDS = env_int("PRESENCE_TIMEOUT_SECONDS", 30, minimum=2)
PRESENCE_GRACE_SECONDS = env_int("PRESENCE_GRACE_SECONDS", 20, minimum=0)
PRESENCE_CHECK_INTERVAL_MS = env_int("PRESENCE_CHECK_INTERVAL_MS", 1000, minimum=50)
EVENT_LOG_MAXLEN = env_int("EVENT_LOG_MAXLEN", 10_000, minimum=100)
# The outbox relay (events/relay.py, `manage.py run_outbox_relay`) publishes events their
# writer left unpublished for AFTER_MS (it died after its commit, or Redis failed), checking
# every INTERVAL_MS, BATCH rows per transaction. Writers publish within milliseconds: AFTER_MS
# only has to outlast a slow commit-to-publish, and bounds how late a crash's events arrive.
OUTBOX_RELAY_AFTER_MS = env_int("OUTBOX_RELAY_AFTER_MS", 2000, minimum=100)
OUTBOX_RELAY_INTERVAL_MS = env_int("OUTBOX_RELAY_INTERVAL_MS", 500, minimum=10)
OUTBOX_RELAY_BATCH = env_int("OUTBOX_RELAY_BATCH", 1000, minimum=1)

# --- Outbound calls (routing_service/outbound/destinations.py) -------------------------------
# Hosts (or host:port) that replies may reach although they are loopback, private or otherwise
# not public addresses: on-premise providers, a local test receiver. Empty: public only.
OUTBOUND_ALLOWED_HOSTS = env_list("OUTBOUND_ALLOWED_HOSTS", [])
try:
    parse_allowed_hosts(OUTBOUND_ALLOWED_HOSTS)
except ValueError as _exc:
    raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_HOSTS: {_exc}") from None

# --- Email (password resets) ----------------------------------------------------------------
# console: messages are printed by the process that sends them (the web process), which is what
# a laptop wants; smtp: EMAIL_HOST and friends. Default: smtp when EMAIL_HOST is set.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "").strip()
_EMAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
}
_email_backend = os.environ.get("EMAIL_BACKEND", "").strip() or (
    "smtp" if EMAIL_HOST else "console"
)
if _email_backend in _EMAIL_BACKENDS:
    EMAIL_BACKEND = _EMAIL_BACKENDS[_email_backend]
elif "." in _email_backend:
    EMAIL_BACKEND = _email_backend  # a backend's dotted path
else:
    raise ImproperlyConfigured(
        f"EMAIL_BACKEND must be console, smtp or a dotted path, got {_email_backend!r}"
    )
if not EMAIL_HOST and EMAIL_BACKEND.endswith(".smtp.EmailBackend"):
    raise ImproperlyConfigured("EMAIL_BACKEND=smtp needs EMAIL_HOST")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)  # STARTTLS, usually port 587
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)  # implicit TLS, usually port 465
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: set one")
EMAIL_PORT = env_int("EMAIL_PORT", 465 if EMAIL_USE_SSL else 587 if EMAIL_USE_TLS else 25)
if not 0 < EMAIL_PORT < 65536:
    raise ImproperlyConfigured(f"EMAIL_PORT must be a TCP port, got {EMAIL_PORT}")
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Switchboard <noreply@localhost>")
if "@" not in parseaddr(DEFAULT_FROM_EMAIL)[1]:
    raise ImproperlyConfigured(f"DEFAULT_FROM_EMAIL is not an address: {DEFAULT_FROM_EMAIL!r}")

# --- Auth ----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
SESSION_COOKIE_HTTPONLY = True
# Failed-login throttling of the web, admin and API-token logins (routing_service/security/
# login_throttle.py): failures of one username from one address, and from one address in all,
# before a lock-out of LOGIN_LOCKOUT_SECONDS (0: that limit is off).
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 5)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=1)
# Reverse proxies in front of the web process that append to X-Forwarded-For (nginx: 1). The
# client address (login throttling, /metrics) is the entry the outermost of them appended; 0
# ignores the header. Never more than really stand in front: the rest of the header is forged.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# --- Security headers, HTTPS, cookies --------------------------------------------------------
# All off by default (a local run is plain HTTP); deploy/.env.example turns them on, and
# `manage.py check --deploy` is clean with it. Probes (/healthz, /readyz, /metrics) answer before
# the HTTPS redirect (observability/middleware.py).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=SESSION_COOKIE_SECURE)
# Content-Security-Policy on every page: scripts, styles, fonts and fetches from this origin only
# (vendored assets, no CDN); no inline script or style, no style attribute (scripts set styles
# through the CSSOM, which CSP allows); `connect-src 'self'` covers the same-origin websockets;
# `data:` images are the inline favicon and Swagger UI's icons. CSP_REPORT_URI, when set,
# receives violation reports.
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# (Not a setting of its own: django-csp takes any CSP_* setting for its old format.)
_csp_report_uri = os.environ.get("CSP_REPORT_URI", "").strip()
if _csp_report_uri:
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [_csp_report_uri]

# --- REST ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["routing_service.api.filters.ApiFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "routing_service.api.schema.SwitchboardAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "routing_service.api.errors.json_exception_handler",
    "UNAUTHENTICATED_USER": None,
    # The API takes JSON bodies (uploads aside): so does DRF's test client by default.
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ]

SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": "Multi-tenant real-time chat routing: provisioning, chats, metrics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # SLA priority and the routing policy's vip_priority share one choice list.
    "ENUM_NAME_OVERRIDES": {
        "PriorityEnum": "routing_service.chats.models.Priority",
        "ConversationStatusEnum": "routing_service.chats.models.ConversationStatus",
        "AssignmentStatusEnum": "routing_service.chats.models.AssignmentStatus",
        "DeliveryStatusEnum": "routing_service.chats.models.DeliveryStatus",
        "AgentStatusEnum": "routing_service.tenancy.models.AgentStatus",
    },
    # No call to an outside validator from the docs page: nothing leaves the installation.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}
# Who reads /api/schema/ and /api/docs/: staff (superadmins and company admins, logged in),
# authenticated (any logged-in user or API token), public, or off (404).
API_DOCS_ACCESS = env_choice(
    "API_DOCS_ACCESS", "staff", ("staff", "authenticated", "public", "off")
)

# --- i18n, static, media ---------------------------------------------------------------------
# The pages speak English, German and Spanish (locale/; routing_service/i18n/): the user's
# profile choice, else the browser's Accept-Language, else English. Times are shown in the
# user's time zone, else their company's, else UTC; stored and computed in UTC.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# English keeps ISO dates (2026-12-03 14:05) as before; de and es use Django's own formats.
FORMAT_MODULE_PATH = ["routing_service.i18n.formats"]
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "frontend_static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
CSV_IMPORT_MAX_BYTES = env_int("CSV_IMPORT_MAX_BYTES", 512 * 1024 * 1024, minimum=1024)
# Attachments and other uploads (docs/operations.md, "File storage"): the local filesystem under
# MEDIA_ROOT, or any S3-compatible store through django-storages when ATTACHMENT_STORAGE=s3.
ATTACHMENT_STORAGE = env_choice("ATTACHMENT_STORAGE", "filesystem", ("filesystem", "s3"))
_default_storage: dict[str, object] = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
if ATTACHMENT_STORAGE == "s3":
    _bucket = os.environ.get("S3_BUCKET", "").strip()
    if not _bucket:
        raise ImproperlyConfigured("ATTACHMENT_STORAGE=s3 needs S3_BUCKET")
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "endpoint_url": os.environ.get("S3_ENDPOINT_URL", "").strip() or None,
            "region_name": os.environ.get("S3_REGION", "").strip() or None,
            "access_key": os.environ.get("S3_ACCESS_KEY_ID", "").strip() or None,
            "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY", "").strip() or None,
            "location": os.environ.get("S3_PREFIX", "").strip().strip("/"),
            # Files are served through signed Switchboard URLs only: private objects, no ACLs.
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            "addressing_style": env_choice(
                "S3_ADDRESSING_STYLE", "auto", ("auto", "path", "virtual")
            ),
        },
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Limits for every company without its own (AttachmentPolicy in the admin): the largest file
# and all files of a company together (0: no quota).
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 25 * 1024 * 1024, minimum=1024)
ATTACHMENT_QUOTA_BYTES = env_int("ATTACHMENT_QUOTA_BYTES", 10 * 1024**3)
# History retention of a company without its own RetentionPolicy (days), and how often one SLA
# timer enqueues the retention turn (partitions ahead, purge, expired months dropped; 0: never).
RETENTION_DEFAULT_MESSAGES_DAYS = env_int("RETENTION_DEFAULT_MESSAGES_DAYS", 730, minimum=1)
RETENTION_DEFAULT_EVENTS_DAYS = env_int("RETENTION_DEFAULT_EVENTS_DAYS", 730, minimum=1)
RETENTION_DEFAULT_SESSIONS_DAYS = env_int("RETENTION_DEFAULT_SESSIONS_DAYS", 1095, minimum=1)
RETENTION_EVERY = env_int("RETENTION_EVERY", 3600)
# Signed URLs: agents' (console links, checked against their company) and providers' (public,
# for Twilio MediaUrl, WhatsApp links and generic callbacks).
ATTACHMENT_URL_TTL_SECONDS = env_int("ATTACHMENT_URL_TTL_SECONDS", 900, minimum=10)
ATTACHMENT_PUBLIC_URL_TTL_SECONDS = env_int("ATTACHMENT_PUBLIC_URL_TTL_SECONDS", 3600, minimum=60)
# Downloads still pending after this long (their task was lost) are enqueued again.
ATTACHMENT_RETRY_STALE_SECONDS = env_int("ATTACHMENT_RETRY_STALE_SECONDS", 300, minimum=10)
WHITENOISE_USE_FINDERS = True

# --- Logs and metrics (docs/observability.md) ------------------------------------------------
# Structured logs: JSON lines in production, readable console lines when DEBUG.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "console" if DEBUG else "json").strip().lower()
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
LOGGING = configure_logging(LOG_FORMAT, LOG_LEVEL)
# `/metrics` answers clients from METRICS_ALLOWED_IPS (addresses or CIDR networks; default
# this host only), and anyone with `Authorization: Bearer <METRICS_TOKEN>` when a token is set.
METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Metrics HTTP servers of the worker processes (0: off); they bind METRICS_ADDR.
METRICS_ADDR = os.environ.get("METRICS_ADDR", "0.0.0.0")  # noqa: S104
ROUTER_METRICS_PORT = env_int("ROUTER_METRICS_PORT", 0)
SLA_TIMER_METRICS_PORT = env_int("SLA_TIMER_METRICS_PORT", 0)
# The dramatiq workers' exposition server (observability/dramatiq.py; 0: off): loopback unless
# told otherwise, since it has no token. dramatiq's own variables (dramatiq_prom_host,
# dramatiq_prom_port) are read when these are not set.
DRAMATIQ_METRICS_ADDR = (
    os.environ.get("DRAMATIQ_METRICS_ADDR", "").strip()
    or os.environ.get("dramatiq_prom_host", "").strip()  # noqa: SIM112 - dramatiq's name
    or "127.0.0.1"
)
try:
    ip_address(DRAMATIQ_METRICS_ADDR)
except ValueError:
    raise ImproperlyConfigured(
        f"DRAMATIQ_METRICS_ADDR must be an IP address, got {DRAMATIQ_METRICS_ADDR!r}"
    ) from None
DRAMATIQ_METRICS_PORT = env_int(
    "DRAMATIQ_METRICS_PORT", env_int("dramatiq_prom_port", 9191), minimum=0
)
if DRAMATIQ_METRICS_PORT > 65535:
    raise ImproperlyConfigured(
        f"DRAMATIQ_METRICS_PORT must be a TCP port or 0, got {DRAMATIQ_METRICS_PORT}"
    )
# One line per request and websocket handshake (observability/access.py): for development;
# in production nginx logs access.
ACCESS_LOG = env_bool("ACCESS_LOG", default=DEBUG)
