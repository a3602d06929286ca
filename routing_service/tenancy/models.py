"""Tenants (companies) and the people who work in them."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from routing_service.i18n.zones import validate_time_zone


class Company(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Where the company works: its staff see times in this zone unless they chose their own.
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default="UTC",
        blank=True,  # left empty in a form: UTC (save)
        validators=[validate_time_zone],
        help_text=_("Times are shown in this zone to staff who have not chosen their own."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("company")
        verbose_name_plural = _("companies")

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.time_zone = self.time_zone or "UTC"
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    SUPERADMIN = "superadmin", _("Superadmin")
    COMPANY_ADMIN = "company_admin", _("Company admin")
    SUPERVISOR = "supervisor", _("Supervisor")
    AGENT = "agent", _("Agent")
    VIEWER = "viewer", _("Viewer")


class AgentStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


class Theme(models.TextChoices):
    """A person's colour scheme for the pages: the system's (`prefers-color-scheme`) or fixed."""

    AUTO = "auto", _("System")
    LIGHT = "light", _("Light")
    DARK = "dark", _("Dark")


# Roles that can take chats: supervisors take escalations and can pick from the queue.
HANDLING_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR})
MANAGING_ROLES = frozenset({Role.SUPERADMIN, Role.COMPANY_ADMIN})


class SwitchboardUserManager(UserManager["User"]):
    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        """`createsuperuser` (also with --noinput) makes a Switchboard superadmin."""
        extra.setdefault("role", Role.SUPERADMIN)
        return super().create_superuser(username, email, password, **extra)


class User(AbstractUser):
    """Staff of a company. A superadmin belongs to no company and sees every one."""

    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, null=True, blank=True, related_name="users"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AGENT)
    # Routing fields.
    max_chats = models.PositiveSmallIntegerField(default=3)
    skills = models.JSONField(default=list, blank=True)
    languages = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=16, choices=AgentStatus.choices, default=AgentStatus.OFFLINE
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # Denormalised count of active assignments, written only under the agent's row lock by the
    # routing actions; lets the router pick agents without counting assignments.
    active_chats = models.PositiveIntegerField(default=0)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # When the agent last had zero chats while available: least_busy ties go to the longest idle.
    idle_since = models.DateTimeField(null=True, blank=True)
    # Raised by tenancy.actions whenever what a credential vouches for changes (password, role,
    # company, deactivation, "revoke my tokens"). Websocket tickets carry it and open sockets
    # compare it per action: anything issued under an older stamp is refused.
    credentials_version = models.PositiveIntegerField(default=0, editable=False)
    # Written by tenancy.actions.set_theme; base.html puts it on <html> before the first paint.
    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.AUTO)
    # The console's sound and desktop-notification switches (tenancy/alert_preferences.py;
    # missing keys take the defaults there). Written by tenancy.actions.set_console_alerts.
    console_alerts = models.JSONField(default=dict, blank=True, db_default={})
    # What the pages speak and which clock they show (routing_service/i18n/middleware.py):
    # blank follows the browser's Accept-Language, and the company's time zone.
    language = models.CharField(
        _("language"),
        max_length=16,
        blank=True,
        default="",
        choices=settings.LANGUAGES,
        help_text=_("The language of the pages. Empty: the browser's language."),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        default="",
        validators=[validate_time_zone],
        help_text=_("Times are shown in this zone. Empty: the company's time zone."),
    )

    objects: ClassVar[SwitchboardUserManager] = SwitchboardUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(
                condition=Q(role=Role.SUPERADMIN) | Q(company__isnull=False),
                name="user_company_required_unless_superadmin",
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="user_role_valid"),
        ]
        indexes = [
            # Router: available agents of a company ("WHERE company_id = ? AND status = ?").
            models.Index(fields=["company", "status"], name="user_company_status_idx"),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Django's own flags are derived from the role so that there is one source of truth.
        self.is_superuser = self.role == Role.SUPERADMIN
        self.is_staff = self.role in MANAGING_ROLES
        if self.role == Role.SUPERADMIN:
            self.company = None
        super().save(*args, **kwargs)

    @property
    def is_superadmin(self) -> bool:
        return self.role == Role.SUPERADMIN

    @property
    def is_company_admin(self) -> bool:
        return self.role == Role.COMPANY_ADMIN

    @property
    def can_supervise(self) -> bool:
        return self.role in {Role.SUPERADMIN, Role.COMPANY_ADMIN, Role.SUPERVISOR}

    @property
    def can_handle_chats(self) -> bool:
        return self.role in HANDLING_ROLES
