"""The one error every chat action raises when a rule says no."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routing_service.tenancy.models import User


class ActionError(Exception):
    """A refused action: `code` is machine-readable, `field` names the input at fault.

    REST views answer it as 400/404/409 JSON; websocket consumers as an `error` frame.
    """

    def __init__(
        self, code: str, message: str, *, field: str | None = None, status: int = 409
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "detail": self.message}
        if self.field:
            body[self.field] = [self.message]
        return body


def company_of(user: User) -> int:
    """The acting user's company id; superadmins must act through a company-scoped path."""
    if user.company_id is None:
        raise ActionError("forbidden", "Act as a member of the company.", status=403)
    return user.company_id


def not_found(what: str, field: str | None = None) -> ActionError:
    return ActionError("not_found", f"{what} not found.", field=field, status=404)
