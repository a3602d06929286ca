"""System checks for the websocket settings: bad combinations fail `manage.py check`."""

from __future__ import annotations

from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string

_PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
_BATCHING = "realtime.layers.RedisPubSubChannelLayer"


@register()
def realtime_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if settings.PRESENCE_HEARTBEAT_SECONDS * 2 > settings.PRESENCE_TIMEOUT_SECONDS:
        problems.append(
            Error(
                "PRESENCE_TIMEOUT_SECONDS must cover at least two heartbeats "
                "(PRESENCE_HEARTBEAT_SECONDS), or one late beat drops a live console.",
                id="realtime.E001",
            )
        )
    layer: dict[str, Any] = settings.CHANNEL_LAYERS.get("default", {})
    try:
        backend = import_string(layer.get("BACKEND", ""))
    except ImportError:
        backend = None
    if not (isinstance(backend, type) and issubclass(backend, RedisPubSubChannelLayer)):
        problems.append(
            Error(
                f"CHANNEL_LAYERS['default'] must be {_BATCHING} or {_PUBSUB}: events.log "
                "writes to its pub/sub channels directly.",
                id="realtime.E002",
            )
        )
    elif len(layer.get("CONFIG", {}).get("hosts", [])) > 1:
        problems.append(
            Warning(
                "Several channel-layer hosts: the consumers' subscription fence and seq "
                "de-duplication assume one pub/sub connection per process (one host).",
                id="realtime.W001",
            )
        )
    return problems
