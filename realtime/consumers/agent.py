"""⑤ `/ws/agent/`: the agent console — their chats, the company queue, their notifications.

Groups: `company.<id>.queue` (queue changes, urgent alerts) and `agent.<user id>` (offers,
assignments, messages, notifications and status changes of this agent, on every console they
have open; also the close message of a revocation). Open consoles count for presence
(realtime/presence.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

from events.schema import agent_group, queue_group
from realtime import presence
from realtime.auth import Query, company_for
from realtime.consumers.base import StreamConsumer
from realtime.protocol import AGENT_ACTIONS, CloseCode, Refused
from realtime.snapshots import SnapshotPoint, agent_snapshot
from routing_service.tenancy.models import Company, User


class AgentConsumer(StreamConsumer):
    allowed_actions: ClassVar[frozenset[str]] = AGENT_ACTIONS

    async def authorise(self, user: User, query: Query) -> Company:
        if not user.can_handle_chats:
            raise Refused(CloseCode.FORBIDDEN, "the console is for agents and supervisors")
        return await company_for(user, query)

    def group_names(self) -> list[str]:
        assert self.user is not None and self.company is not None
        return [queue_group(self.company.pk), agent_group(self.user.pk)]

    def revocation_group(self) -> str:
        """`agent.<id>`, joined for the agent's events already: no extra subscription."""
        assert self.user is not None
        return agent_group(self.user.pk)

    def build_snapshot(self, point: SnapshotPoint) -> dict[str, Any]:
        assert self.user is not None and self.company is not None
        return agent_snapshot(self.user, self.company, point)

    async def opened(self) -> None:
        assert self.user is not None
        await presence.console_opened(self.user.pk, self.channel_name)

    async def closed(self) -> None:
        assert self.user is not None
        await presence.console_closed(self.user.pk, self.channel_name)

    async def ping(self) -> None:
        assert self.user is not None
        await presence.touch([(self.channel_name, self.user.pk)])
