"""Canned responses: company-wide ones (managed by company admins) and each agent's own.

Variables (`{{client.name}}`, `{{agent.name}}`, `{{company.name}}`) are substituted by
`workspace_rules.render_canned`, a plain one-pass replacement: the text is never handed to a
template engine, so a response cannot run template code or reach other data.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q

from routing_service.chats.actions.errors import ActionError, company_of, not_found
from routing_service.chats.actions.notes import display_name
from routing_service.chats.models import CannedResponse, Conversation
from routing_service.chats.workspace_rules import CANNED_VARIABLES, render_canned, unknown_variables
from routing_service.tenancy.models import User

SCOPE_COMPANY = "company"
SCOPE_PERSONAL = "personal"
MAX_CANNED_TEXT = 4096


def visible_canned(user: User, company_id: int) -> Q:
    """The responses `user` may see and use: the company's shared ones and their own."""
    return Q(company_id=company_id) & (Q(owner__isnull=True) | Q(owner_id=user.pk))


def may_manage(user: User, canned: CannedResponse) -> bool:
    """Shared responses are the company admins'; personal ones their owner's."""
    if canned.owner_id is None:
        return user.is_superadmin or user.is_company_admin
    return canned.owner_id == user.pk


def _check_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ActionError("invalid", "The text is empty.", field="text", status=400)
    if len(text) > MAX_CANNED_TEXT:
        raise ActionError(
            "invalid", f"At most {MAX_CANNED_TEXT} characters.", field="text", status=400
        )
    unknown = unknown_variables(text)
    if unknown:
        known = ", ".join("{{" + name + "}}" for name in CANNED_VARIABLES)
        raise ActionError(
            "invalid",
            f"Unknown variable(s): {', '.join('{{' + n + '}}' for n in unknown)}. Known: {known}.",
            field="text",
            status=400,
        )
    return text


def _duplicate(shortcode: str) -> ActionError:
    return ActionError(
        "duplicate",
        f"The shortcode /{shortcode} is already used in this scope.",
        field="shortcode",
        status=400,
    )


def create_canned(
    actor: User, company_id: int, *, scope: str, shortcode: str, title: str, text: str
) -> CannedResponse:
    if scope == SCOPE_COMPANY and not (actor.is_superadmin or actor.is_company_admin):
        raise ActionError(
            "forbidden", "Only company admins manage shared responses.", field="scope", status=403
        )
    owner = None if scope == SCOPE_COMPANY else actor
    try:
        with transaction.atomic():
            return CannedResponse.objects.unscoped().create(
                company_id=company_id,
                owner=owner,
                shortcode=shortcode,
                title=title,
                text=_check_text(text),
            )
    except IntegrityError:
        raise _duplicate(shortcode) from None


def update_canned(
    actor: User,
    canned: CannedResponse,
    *,
    shortcode: str | None = None,
    title: str | None = None,
    text: str | None = None,
) -> CannedResponse:
    if not may_manage(actor, canned):
        raise ActionError("forbidden", "You may not change this response.", status=403)
    if shortcode is not None:
        canned.shortcode = shortcode
    if title is not None:
        canned.title = title
    if text is not None:
        canned.text = _check_text(text)
    try:
        with transaction.atomic():
            canned.save()
    except IntegrityError:
        raise _duplicate(canned.shortcode) from None
    return canned


def delete_canned(actor: User, canned: CannedResponse) -> None:
    if not may_manage(actor, canned):
        raise ActionError("forbidden", "You may not delete this response.", status=403)
    canned.delete()


def render_for(canned: CannedResponse, agent: User, conversation_id: int | None) -> str:
    """The response's text for this agent in this chat (of the agent's company)."""
    values = {"agent.name": display_name(agent), "company.name": canned.company.name}
    if conversation_id is not None:
        conversation = (
            Conversation.objects.unscoped()
            .select_related("client")
            .filter(pk=conversation_id, company_id=company_of(agent))
            .first()
        )
        if conversation is None:
            raise not_found("Conversation", "conversation")
        client = conversation.client
        values["client.name"] = client.name or client.external_id
    return render_canned(canned.text, values)
