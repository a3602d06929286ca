"""Customer profiles: the fields staff edit, and notes about a client that outlive any chat."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from routing_service.chats.actions.errors import ActionError
from routing_service.chats.models import Client, ClientNote
from routing_service.chats.workspace_rules import attribute_errors
from routing_service.tenancy.models import User

EDITABLE = ("name", "email", "phone", "vip", "attributes")
MAX_CLIENT_NOTE = 4096


def update_client(client: Client, changes: dict[str, Any]) -> Client:
    """Apply a staff edit of the profile; each bad field is refused with its name."""
    with transaction.atomic():
        client = Client.objects.unscoped().select_for_update().get(pk=client.pk)
        fields: list[str] = []
        for key, value in changes.items():
            if key not in EDITABLE:
                continue
            if key == "vip":
                if not isinstance(value, bool):
                    raise ActionError("invalid", "Must be a boolean.", field="vip", status=400)
                client.is_vip = value
                fields.append("is_vip")
            elif key == "attributes":
                problems = attribute_errors(value)
                if problems:
                    raise ActionError("invalid", " ".join(problems), field="attributes", status=400)
                client.attributes = value
                fields.append("attributes")
            else:
                setattr(client, key, _text(key, value))
                fields.append(key)
        if fields:
            client.save(update_fields=fields)
    return client


def _text(key: str, value: Any) -> str:
    limits = {"name": 255, "email": 254, "phone": 64}
    if not isinstance(value, str):
        raise ActionError("invalid", "Must be a string.", field=key, status=400)
    value = value.strip()
    if len(value) > limits[key]:
        raise ActionError("invalid", f"At most {limits[key]} characters.", field=key, status=400)
    if key == "email" and value:
        try:
            validate_email(value)
        except ValidationError:
            raise ActionError(
                "invalid", "Enter a valid email address.", field="email", status=400
            ) from None
    return value


def add_client_note(client: Client, author: User, text: str) -> ClientNote:
    text = (text or "").strip()
    if not text:
        raise ActionError("invalid", "The note is empty.", field="text", status=400)
    if len(text) > MAX_CLIENT_NOTE:
        raise ActionError(
            "invalid", f"At most {MAX_CLIENT_NOTE} characters.", field="text", status=400
        )
    return ClientNote.objects.unscoped().create(
        company_id=client.company_id, client=client, author=author, text=text
    )
