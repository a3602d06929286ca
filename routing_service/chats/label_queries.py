"""Label reads shared by the lists, exports and analytics: one way to say "chats with label X".

Chats keep their label names (`Conversation.labels`, for events) and join rows
(`ConversationLabel`, for queries); filters go through the join rows' (label, conversation)
index, matched to the chat's own company so that a name never reaches another tenant's label.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.db.models import OuterRef, QuerySet

from routing_service.chats.models import Conversation
from routing_service.chats.workspace_models import ConversationLabel

MAX_LABEL_NAME = 64
_Chats = TypeVar("_Chats", bound="QuerySet[Conversation]")


def labelled_conversation_ids(name: str, company_field: str = "company_id") -> QuerySet[Any]:
    """The ids of chats carrying the label `name` (case-insensitive) of the outer row's company
    (`company_field` names it on the outer query), as a sub-select for `pk__in=`."""
    return (
        ConversationLabel.objects.unscoped()
        .filter(label__name__iexact=name, label__company_id=OuterRef(company_field))
        .values("conversation_id")
    )


def with_label(chats: _Chats, name: str) -> _Chats:
    """`chats` that carry the label `name`; an unknown name leaves none."""
    return chats.filter(pk__in=labelled_conversation_ids(name))


def labels_cell(names: Iterable[str] | None) -> str:
    """A chat's labels as one CSV cell: "billing; refund" (sorted, as stored)."""
    return "; ".join(str(name) for name in names or [] if name)
