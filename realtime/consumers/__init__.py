"""⑤ Websocket consumers: `/ws/agent/` (AgentConsumer) and `/ws/wallboard/` (WallboardConsumer)."""

from realtime.consumers.agent import AgentConsumer
from realtime.consumers.base import StreamConsumer
from realtime.consumers.wallboard import WallboardConsumer

__all__ = ["AgentConsumer", "StreamConsumer", "WallboardConsumer"]
