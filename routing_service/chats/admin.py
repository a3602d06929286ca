"""Admin for the chat domain: inboxes, clients, conversations, messages, assignments.

Tenant-aware through `TenantModelAdmin`. Change lists join every row they show
(`list_select_related`) and big relations use autocomplete, so a page costs a fixed number of
queries however many rows it lists. The routing actions remain the normal writers of these rows;
the admin is for inspection and repair.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    PRIORITY_RANK,
    AssignmentEvent,
    Channel,
    ChatAssignment,
    ChatNotification,
    Client,
    Conversation,
    Message,
    RoutingPolicy,
)
from routing_service.chats.provisioning import (
    masked_config,
    unmask_config,
    update_channel,
    validate_channel_config,
    validate_channel_secret,
)
from routing_service.tenancy.admin_mixins import (
    TenantInlineMixin,
    TenantModelAdmin,
    TenantModelForm,
)
from routing_service.tenancy.models import User

VIEW_ONLY = frozenset({"view"})
# Superadmins keep "delete" so that deleting a company (which cascades here) stays possible.
VIEW_AND_DELETE = frozenset({"view", "delete"})


# --- Channels --------------------------------------------------------------------------------


class ChannelAdminForm(TenantModelForm):
    """The same rules as the REST API (`chats.provisioning`): secrets are write-only, a new
    secret starts a rotation, and config credentials are shown masked and kept when the mask is
    saved back."""

    secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            _(
                "What authenticates the provider. Leave empty to keep the current secret; a new "
                "one starts a rotation (the current secret stays valid until revoked)."
            )
        ),
    )
    revoke_previous_secret = forms.BooleanField(
        required=False, help_text=_("End a rotation: stop accepting the previous secret.")
    )

    class Meta:
        model = Channel
        exclude = ("previous_secret",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "config" in self.fields:
            self.initial["config"] = masked_config(self.instance.config)

    def clean_secret(self) -> str:
        secret: str = self.cleaned_data.get("secret") or ""
        if secret:
            return secret
        if self.instance.pk is not None:
            return self.instance.secret
        raise forms.ValidationError(_("A new channel needs a secret."))

    def clean_config(self) -> Any:
        config = self.cleaned_data.get("config")
        if self.instance.pk and isinstance(config, dict):
            config = unmask_config(config, self.instance.config)
        return config

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        provider = cleaned.get("provider") or self.instance.provider
        secret = cleaned.get("secret")
        if secret and secret != self.instance.secret:
            for error in validate_channel_secret(provider, secret):
                self.add_error("secret", error)
        if "config" in cleaned:
            for key, errors in validate_channel_config(provider, cleaned["config"]).items():
                for error in errors:
                    self.add_error("config", f"{key}: {error}")
        return cleaned


@admin.register(Channel)
class ChannelAdmin(TenantModelAdmin):
    form = ChannelAdminForm
    list_display = ("name", "provider", "is_active", "webhook_path", "created_at")
    list_filter = ("provider", "is_active")
    search_fields = ("name",)
    readonly_fields = ("uuid", "webhook_url", "rotation", "created_at")
    fieldsets = (
        (None, {"fields": ("company", "name", "provider", "is_active")}),
        (_("Webhook"), {"fields": ("webhook_url", "uuid", "created_at")}),
        (_("Authentication"), {"fields": ("secret", "rotation", "revoke_previous_secret")}),
        (_("Provider settings"), {"fields": ("config", "max_body_bytes")}),
    )

    @admin.display(description=_("webhook URL"))
    def webhook_url(self, obj: Channel) -> str:
        # An unsaved channel's uuid is provisional: a new one is drawn when the form is posted.
        return obj.webhook_url if obj.pk else str(_("Shown once the channel is saved."))

    @admin.display(description=_("rotation"))
    def rotation(self, obj: Channel) -> str:
        if obj.previous_secret:
            return str(_("In progress: the previous secret is still accepted."))
        return str(_("None: only the current secret is accepted."))

    def save_model(self, request: HttpRequest, obj: Channel, form: Any, change: Any) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Through the provisioning action: the row lock and the rotation rule live there.
        fields = ("name", "provider", "secret", "config", "max_body_bytes", "is_active")
        update_channel(
            obj,
            revoke_previous_secret=form.cleaned_data.get("revoke_previous_secret", False),
            **{field: getattr(obj, field) for field in fields},
        )


# --- Clients ---------------------------------------------------------------------------------


@admin.register(Client)
class ClientAdmin(TenantModelAdmin):
    list_display = ("__str__", "external_id", "email", "phone", "language", "is_vip", "created_at")
    list_filter = ("is_vip",)
    search_fields = ("name", "external_id", "email", "phone")
    readonly_fields = ("created_at",)
    actions = ("erase_personal_data",)

    @admin.action(description=_("Erase personal data (right to erasure)"), permissions=["change"])
    def erase_personal_data(self, request: HttpRequest, queryset: QuerySet[Client]) -> None:
        """Through the one erasure action (routing_service/retention/erasure.py), per client;
        the queryset is already the caller's company's rows (the tenant admin scopes it)."""
        from routing_service.retention.erasure import erase_client

        user = request.user if isinstance(request.user, User) else None
        for client in queryset.select_related("company"):
            erase_client(client.company, client, by=user)
        self.message_user(
            request, _("Personal data of %(n)d client(s) erased.") % {"n": queryset.count()}
        )


# --- Conversations ---------------------------------------------------------------------------


class ChatAssignmentInline(TenantInlineMixin, admin.TabularInline):
    """The conversation's assignment history, read-only: the routing actions write it."""

    model = ChatAssignment
    company_admin_permissions = VIEW_ONLY
    superadmin_permissions = VIEW_AND_DELETE
    can_delete = False
    extra = 0
    fields = (
        "agent",
        "status",
        "offered_at",
        "accepted_at",
        "first_response_at",
        "resolved_at",
        "escalation_level",
        "end_reason",
    )
    readonly_fields = fields
    ordering = ("offered_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatAssignment]:
        return super().get_queryset(request).select_related("agent")


@admin.register(Conversation)
class ConversationAdmin(TenantModelAdmin):
    list_display = (
        "id",
        "client",
        "channel",
        "status",
        "priority",
        "assigned_agent",
        "created_at",
    )
    list_filter = ("status", "priority", "channel")
    list_select_related = ("client", "channel")
    search_fields = ("client__name", "client__external_id")
    autocomplete_fields = ("client",)
    readonly_fields = ("message_count", "transcript", "audit_trail")
    inlines = (ChatAssignmentInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "company",
                    "client",
                    "channel",
                    "status",
                    "priority",
                    "subject",
                    "language",
                    "category",
                )
            },
        ),
        (
            _("Timing"),
            {
                "fields": (
                    "created_at",
                    "queued_at",
                    "last_message_at",
                    "first_response_at",
                    "resolved_at",
                    "waiting_on_customer_since",
                )
            },
        ),
        (
            _("SLA"),
            {
                "fields": (
                    "first_response_due_at",
                    "resolution_due_at",
                    "first_response_met",
                    "resolution_met",
                    "escalation_level",
                )
            },
        ),
        (
            _("Outcome"),
            {
                "fields": (
                    "csat_rating",
                    "csat_comment",
                    "message_count",
                    "transcript",
                    "audit_trail",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        # The active assignment's agent in the same query: the partial unique index
        # "assignment_one_active_per_conversation" guarantees at most one such row.
        active_agent = ChatAssignment.objects.unscoped().filter(
            conversation=OuterRef("pk"), status__in=ACTIVE_ASSIGNMENT_STATUSES
        )
        return (
            super()
            .get_queryset(request)
            .annotate(assigned_agent_name=Subquery(active_agent.values("agent__username")[:1]))
        )

    @admin.display(description=_("assigned to"), ordering="assigned_agent_name")
    def assigned_agent(self, obj: Conversation) -> str:
        return getattr(obj, "assigned_agent_name", None) or "—"

    @admin.display(description=_("messages"))
    def transcript(self, obj: Conversation) -> str:
        if not obj.pk:
            return "—"
        url = reverse("admin:chats_message_changelist")
        return format_html('<a href="{}?conversation={}">Messages</a>', url, obj.pk)

    @admin.display(description=_("audit trail"))
    def audit_trail(self, obj: Conversation) -> str:
        if not obj.pk:
            return "—"
        url = reverse("admin:chats_assignmentevent_changelist")
        return format_html('<a href="{}?conversation={}">Events</a>', url, obj.pk)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        now = timezone.now()
        initial = {"created_at": now, "queued_at": now, "last_message_at": now}
        return {**initial, **super().get_changeform_initial_data(request)}

    def save_model(self, request: HttpRequest, obj: Conversation, form: Any, change: Any) -> None:
        # The queue index sorts on the rank, so it must follow the priority.
        obj.priority_rank = PRIORITY_RANK[obj.priority]  # type: ignore[index]
        super().save_model(request, obj, form, change)


# --- Messages --------------------------------------------------------------------------------


@admin.register(Message)
class MessageAdmin(TenantModelAdmin):
    list_display = (
        "id",
        "conversation",
        "channel",
        "direction",
        "short_text",
        "delivery_status",
        "sent_at",
    )
    list_filter = ("direction", "delivery_status", "channel")
    list_select_related = ("conversation__client", "channel")
    search_fields = ("provider_message_id", "conversation__client__name")
    autocomplete_fields = ("conversation", "sender")
    readonly_fields = ("created_at",)

    @admin.display(description=_("text"))
    def short_text(self, obj: Message) -> str:
        return obj.text if len(obj.text) <= 60 else f"{obj.text[:59]}…"


# --- Assignments and their audit trail -------------------------------------------------------


@admin.register(ChatAssignment)
class ChatAssignmentAdmin(TenantModelAdmin):
    list_display = (
        "id",
        "conversation",
        "agent",
        "status",
        "offered_at",
        "accepted_at",
        "first_response_due_at",
        "escalation_level",
    )
    list_filter = ("status", "agent")
    list_select_related = ("conversation__client", "agent")
    search_fields = ("conversation__client__name", "agent__username")
    autocomplete_fields = ("conversation", "agent")


@admin.register(AssignmentEvent)
class AssignmentEventAdmin(TenantModelAdmin):
    """The audit trail is append-only: nobody adds or edits events here."""

    company_admin_permissions = VIEW_ONLY
    superadmin_permissions = VIEW_AND_DELETE
    list_display = (
        "created_at",
        "action",
        "conversation",
        "actor",
        "from_agent",
        "to_agent",
        "short_reason",
    )
    list_filter = ("action",)
    list_select_related = ("conversation__client", "actor", "from_agent", "to_agent")
    search_fields = ("conversation__client__name", "reason")
    # Newest first: the list is read to find out what just happened, and why.
    ordering = ("-created_at", "-id")

    @admin.display(description=_("reason"), ordering="reason")
    def short_reason(self, obj: AssignmentEvent) -> str:
        reason = obj.reason or "—"
        return reason if len(reason) <= 80 else f"{reason[:79]}…"


# --- Notifications and routing settings ------------------------------------------------------


@admin.register(ChatNotification)
class ChatNotificationAdmin(TenantModelAdmin):
    list_display = (
        "recipient",
        "client",
        "unread_count",
        "urgent_count",
        "last_message_at",
        "dismissed_at",
    )
    list_filter = ("recipient",)
    list_select_related = ("recipient", "client")
    search_fields = ("client__name", "recipient__username")
    autocomplete_fields = ("recipient", "client", "conversation")


@admin.register(RoutingPolicy)
class RoutingPolicyAdmin(TenantModelAdmin):
    """One per company, made with the company: company admins edit theirs."""

    company_admin_permissions: ClassVar[frozenset[str]] = frozenset({"view", "change"})
    list_display = (
        "__str__",
        "strategy",
        "offer_timeout_seconds",
        "skill_fallback_seconds",
        "abandon_after_minutes",
        "updated_at",
    )
    list_filter = ("strategy",)
    list_select_related = ("company",)
    search_fields = ("company__name",)
    readonly_fields = ("updated_at",)

    def get_list_display(self, request: HttpRequest) -> Any:
        # `__str__` already names the company.
        return [c for c in super().get_list_display(request) if c != "company"]
