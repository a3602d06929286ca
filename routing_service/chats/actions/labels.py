"""Labels: a company's catalogue (name unique per company, colour `#rrggbb`) and the labels on
each chat.

A chat's labels are stored twice, both written here only: the join rows (`ConversationLabel`,
for the `?label=` filter and per-label analytics) and the sorted names on the chat
(`Conversation.labels`, so every chat event carries them without a query). Changing a chat's
labels publishes `chat.updated` to whoever sees the chat: its holder, the supervisors and, while
it waits, the queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import IntegrityError, transaction

from events.outbox import publish_on_commit
from events.schema import Event, EventType, make_event
from routing_service.chats.actions.errors import ActionError, company_of, not_found
from routing_service.chats.locks import lock_conversation
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    ChatAssignment,
    Conversation,
    ConversationLabel,
    ConversationStatus,
    Label,
)
from routing_service.chats.payloads import conversation_data
from routing_service.chats.workspace_rules import is_color
from routing_service.tenancy.models import User

MAX_LABELS_PER_CHAT = 20
MAX_LABEL_NAME = 64


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ActionError("invalid", "A label needs a name.", field="name", status=400)
    if len(name) > MAX_LABEL_NAME:
        raise ActionError(
            "invalid", f"At most {MAX_LABEL_NAME} characters.", field="name", status=400
        )
    return name


def _clean_color(color: str) -> str:
    if not is_color(color or ""):
        raise ActionError("invalid", "A colour is #rrggbb.", field="color", status=400)
    return color.lower()


def _duplicate(name: str) -> ActionError:
    return ActionError(
        "duplicate", f"The company already has a label {name!r}.", field="name", status=400
    )


def create_label(company_id: int, name: str, color: str) -> Label:
    name, color = _clean_name(name), _clean_color(color)
    try:
        with transaction.atomic():
            return Label.objects.unscoped().create(company_id=company_id, name=name, color=color)
    except IntegrityError:
        raise _duplicate(name) from None


def update_label(label: Label, *, name: str | None = None, color: str | None = None) -> Label:
    """Rename or recolour; a rename is carried to every chat that has the label."""
    with transaction.atomic():
        label = Label.objects.unscoped().select_for_update().get(pk=label.pk)
        old = label.name
        if color is not None:
            label.color = _clean_color(color)
        if name is not None:
            label.name = _clean_name(name)
        try:
            with transaction.atomic():
                label.save(update_fields=["name", "color"])
        except IntegrityError:
            raise _duplicate(label.name) from None
        if label.name != old:
            _refresh_names(_chats_with(label), label.company_id)
    return label


def delete_label(label: Label) -> None:
    """Remove the label from the catalogue and from every chat that had it."""
    with transaction.atomic():
        chats = _chats_with(label)
        Label.objects.unscoped().filter(pk=label.pk).delete()
        _refresh_names(chats, label.company_id)


def set_conversation_labels(
    conversation_id: int, actor: User, names: Sequence[str]
) -> Conversation:
    """Make the chat's labels exactly `names` (labels of the actor's company; an unknown name
    is refused with the `labels` field)."""
    company_id = company_of(actor)
    wanted = list(dict.fromkeys(name.strip() for name in names if isinstance(name, str)))
    if len(wanted) > MAX_LABELS_PER_CHAT:
        raise ActionError(
            "invalid", f"At most {MAX_LABELS_PER_CHAT} labels.", field="labels", status=400
        )
    labels = {
        label.name: label
        for label in Label.objects.unscoped().filter(company_id=company_id, name__in=wanted)
    }
    unknown = [name for name in wanted if name not in labels]
    if unknown:
        raise ActionError(
            "invalid",
            f"Unknown label(s): {', '.join(unknown)}.",
            field="labels",
            status=400,
        )
    if (
        not Conversation.objects.unscoped()
        .filter(pk=conversation_id, company_id=company_id)
        .exists()
    ):
        raise not_found("Conversation", "conversation_id")
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        links = ConversationLabel.objects.unscoped().filter(conversation_id=conversation.pk)
        links.exclude(label_id__in=[label.pk for label in labels.values()]).delete()
        have = set(links.values_list("label_id", flat=True))
        ConversationLabel.objects.unscoped().bulk_create(
            [
                ConversationLabel(company_id=company_id, conversation=conversation, label=label)
                for label in labels.values()
                if label.pk not in have
            ]
        )
        names_now = sorted(labels, key=str.casefold)
        if names_now != list(conversation.labels or []):
            conversation.labels = names_now
            conversation.save(update_fields=["labels"])
            publish_on_commit([chat_updated_event(conversation)])
    return conversation


def chat_updated_event(conversation: Conversation) -> Event:
    """`chat.updated`: the chat's whole record, for its holder, the supervisors and (while it
    waits) the queue."""
    assignment = (
        ChatAssignment.objects.unscoped()
        .filter(conversation_id=conversation.pk, status__in=ACTIVE_ASSIGNMENT_STATUSES)
        .first()
    )
    return make_event(
        EventType.CHAT_UPDATED,
        conversation.company_id,
        conversation_data(conversation, assignment),
        queue=conversation.status == ConversationStatus.WAITING,
        supervisors=True,
        agents=[assignment.agent_id] if assignment else (),
    )


def _chats_with(label: Label) -> list[int]:
    return list(
        ConversationLabel.objects.unscoped()
        .filter(label_id=label.pk)
        .values_list("conversation_id", flat=True)
    )


def _refresh_names(conversation_ids: Iterable[int], company_id: int) -> None:
    """Re-derive the names on these chats from their join rows (after a rename or delete) and
    tell whoever sees the open ones."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return
    names: dict[int, list[str]] = {pk: [] for pk in ids}
    for conversation_id, name in (
        ConversationLabel.objects.unscoped()
        .filter(conversation_id__in=ids)
        .values_list("conversation_id", "label__name")
    ):
        names[conversation_id].append(name)
    events = []
    chats = (
        Conversation.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("client", "channel")
        .filter(pk__in=ids, company_id=company_id)
        .order_by("pk")
    )
    for conversation in chats:
        conversation.labels = sorted(names[conversation.pk], key=str.casefold)
        conversation.save(update_fields=["labels"])
        if conversation.is_open:
            events.append(chat_updated_event(conversation))
    publish_on_commit(events)
