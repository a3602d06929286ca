"""⑤ `/ws/wallboard/`: the supervisors' wallboard — stats, agent grid, queue, SLA at risk.

For supervisors, company admins and superadmins (who name the company with `?company=<id>`).
Groups: `company.<id>.queue` and `company.<id>.supervisors` (agent status, assignments,
transfers, escalations, alerts, `wallboard.stats`). Read-only: the only action is `ping`.
"""

from __future__ import annotations

from typing import Any

from events.schema import queue_group, supervisors_group
from realtime.auth import Query, company_for
from realtime.consumers.base import StreamConsumer
from realtime.protocol import CloseCode, Refused
from realtime.snapshots import SnapshotPoint, wallboard_snapshot
from realtime.wallboard import ticker
from routing_service.tenancy.models import Company, User


class WallboardConsumer(StreamConsumer):
    async def authorise(self, user: User, query: Query) -> Company:
        if not user.can_supervise:
            raise Refused(CloseCode.FORBIDDEN, "the wallboard is for supervisors and admins")
        return await company_for(user, query)

    def group_names(self) -> list[str]:
        assert self.company is not None
        return [queue_group(self.company.pk), supervisors_group(self.company.pk)]

    def build_snapshot(self, point: SnapshotPoint) -> dict[str, Any]:
        assert self.user is not None and self.company is not None
        return wallboard_snapshot(self.user, self.company, point)

    async def opened(self) -> None:
        assert self.company is not None
        ticker().watch(self.company.pk)

    async def closed(self) -> None:
        assert self.company is not None
        ticker().unwatch(self.company.pk)
