"""⑤ The supervisors' pages: `/conversations/` (the live list) and `/conversations/<id>/` (a
read-only live view of one chat, with whisper, take-over and reassign).

Thin like the console and wallboard pages (realtime/views.py): role and company are checked
here, the first page is rendered on the server (so it reads without a script), and the
browser then follows the wallboard socket's events (`/ws/wallboard/`, supervisors' group) to
keep rows and the transcript current. Whisper, take-over and reassign are REST calls to the
same actions the console's socket uses (routing_service/api/monitoring.py).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from realtime import monitoring
from realtime.views import _base_config, _choose_company, _superadmin_company, _user, forbidden
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    ChatAssignment,
    Conversation,
    ConversationStatus,
    Message,
    Priority,
    Whisper,
)
from routing_service.tenancy.models import HANDLING_ROLES, Company, User
from routing_service.tenancy.pages import CONVERSATIONS_ROLES

MONITOR_ROLES: Final = CONVERSATIONS_ROLES  # routing_service/tenancy/pages.py: one list
TRANSCRIPT_LIMIT: Final = 500


def _company(request: HttpRequest) -> Company | HttpResponse:
    """The company the page is about, or the answer to give instead (403, company chooser)."""
    user = _user(request)
    if user.role not in MONITOR_ROLES:
        return forbidden(request, MONITOR_ROLES)
    if user.is_superadmin:
        company = _superadmin_company(request)
        return company if company is not None else _choose_company(request)
    if user.company is None:
        return forbidden(request, MONITOR_ROLES, _("You are not a member of a company."))
    if not user.company.is_active:
        return forbidden(request, MONITOR_ROLES, _("Your company is not active."))
    return user.company


def _ws_path(user: User, company: Company) -> str:
    path = "/ws/wallboard/"
    return f"{path}?{urlencode({'company': company.pk})}" if user.is_superadmin else path


def _strings() -> dict[str, str]:
    """The words the scripts show, translated here (there is no JavaScript catalog)."""
    return {
        "live": _("Live"),
        "connecting": _("Connecting…"),
        "offline": _("Offline: reconnecting…"),
        "new_chats": _("New activity: show the latest"),
        "customer": _("Customer"),
        "agent": _("Agent"),
        "system": _("Switchboard"),
        "whisper": _("Whisper"),
        "whisper_to": _("Whisper to the handling agent"),
        "sent": _("Sent."),
        "taken": _("The chat is yours now; open it in the console."),
        "reassigned": _("Reassigned."),
        "failed": _("That did not work:"),
        "unassigned": _("unassigned"),
        "resolved": _("resolved"),
        "rating": _("Satisfaction"),
    }


@require_GET
@never_cache
@login_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    """Every live and recent chat of the company, filtered, newest activity first."""
    company = _company(request)
    if isinstance(company, HttpResponse):
        return company
    user = _user(request)
    error: monitoring.BadFilter | None = None
    try:
        filters = monitoring.parse_filters(request.GET)
    except monitoring.BadFilter as bad:
        error = bad
        filters = monitoring.Filters()
    page = monitoring.list_page(company.pk, filters)
    base_query = request.GET.copy()
    base_query.pop("after", None)
    next_url = None
    if page.next_cursor:
        next_query = base_query.copy()
        next_query["after"] = page.next_cursor
        next_url = f"{request.path}?{next_query.urlencode()}"
    context: dict[str, Any] = {
        "company": company,
        "is_superadmin": user.is_superadmin,
        "company_query": f"company={company.pk}" if user.is_superadmin else "",
        "page": page,
        "filters": filters,
        "error": error,
        "choices": monitoring.filter_choices(company.pk),
        "statuses": ConversationStatus.choices,
        "priorities": Priority.choices,
        "sla_states": [
            ("breached", _("Breached")),
            ("at_risk", _("At risk")),
            ("ok", _("Within SLA")),
        ],
        "next_url": next_url,
        "first_page_url": f"{request.path}?{base_query.urlencode()}" if filters.cursor else "",
        "config": {
            **_base_config(request, company, _ws_path(user, company)),
            "strings": _strings(),
            "first_page": filters.cursor is None,
        },
    }
    return render(request, "realtime/conversations.html", context)


def _transcript(conversation: Conversation) -> list[dict[str, Any]]:
    """Messages and whispers in time order (the newest `TRANSCRIPT_LIMIT` messages)."""
    messages = list(
        Message.objects.unscoped()
        .filter(conversation_id=conversation.pk)
        .select_related("sender")
        .order_by("-sent_at", "-id")[:TRANSCRIPT_LIMIT]
    )
    items: list[dict[str, Any]] = []
    for m in reversed(messages):
        sender = m.sender
        items.append(
            {
                "kind": "message",
                "id": m.pk,
                "direction": m.direction,
                "text": m.text,
                "at": m.sent_at,
                "who": (sender.get_full_name() or sender.username) if sender else "",
                "delivery_status": m.delivery_status,
                "survey": bool((m.metadata or {}).get("csat_survey")),
            }
        )
    for w in (
        Whisper.objects.unscoped()
        .filter(conversation_id=conversation.pk)
        .select_related("author", "recipient")
    ):
        author = w.author
        items.append(
            {
                "kind": "whisper",
                "id": w.pk,
                "direction": "whisper",
                "text": w.text,
                "at": w.created_at,
                "who": (author.get_full_name() or author.username) if author else "",
                "to": w.recipient.get_full_name() or w.recipient.username,
            }
        )
    items.sort(key=lambda item: item["at"])
    return items


@require_GET
@never_cache
@login_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """One chat, read-only and live: transcript, state, whisper, take-over and reassign."""
    company = _company(request)
    if isinstance(company, HttpResponse):
        return company
    user = _user(request)
    conversation = (
        Conversation.objects.unscoped()
        .select_related("client", "channel")
        .filter(pk=conversation_id, company_id=company.pk)
        .first()
    )
    if conversation is None:
        raise Http404(_("No such conversation in this company."))
    assignment = (
        ChatAssignment.objects.unscoped()
        .select_related("agent")
        .filter(conversation_id=conversation.pk, status__in=ACTIVE_ASSIGNMENT_STATUSES)
        .first()
    )
    agents = [
        {"id": pk, "name": f"{first} {last}".strip() or username, "status": status}
        for pk, first, last, username, status in User.objects.filter(
            company_id=company.pk, role__in=HANDLING_ROLES, is_active=True
        )
        .order_by("username")
        .values_list("pk", "first_name", "last_name", "username", "status")
    ]
    list_url = reverse("conversations:list")
    if user.is_superadmin:
        list_url += f"?company={company.pk}"
    config = {
        **_base_config(request, company, _ws_path(user, company)),
        "strings": _strings(),
        "conversation_id": conversation.pk,
        "assignment_id": assignment.pk if assignment else None,
        "holder_id": assignment.agent_id if assignment else None,
        "api": {
            "whisper": reverse("conversation-whisper", args=[conversation.pk]),
            "take_over": reverse("conversation-take-over", args=[conversation.pk]),
            "transfer": "/api/v1/assignments/{id}/transfer/",
        },
    }
    context = {
        "company": company,
        "conversation": conversation,
        "assignment": assignment,
        "transcript": _transcript(conversation),
        "agents": agents,
        "can_take_over": user.can_handle_chats and user.company_id == company.pk,
        "list_url": list_url,
        "exports": {
            fmt: reverse("conversation-transcript", args=[conversation.pk, fmt])
            for fmt in ("txt", "json", "csv")
        },
        "config": config,
    }
    return render(request, "realtime/conversation_detail.html", context)
