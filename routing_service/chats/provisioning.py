"""Provisioning writes: channels (inboxes) and the company's routing policy.

The REST API (and anything else that configures a company) calls these; the rules that decide
whether a channel's settings are usable are pure functions of plain values, so the admin site,
a management command or a test can apply the same checks.

Secrets: a channel's `secret` and the sensitive entries of its `config` (tokens, passwords) are
write-only. Callers show them through `masked_config`; a client that saves back what it was
shown (the masked value) keeps the stored value instead of overwriting it with the mask.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from routing_service.chats import csat
from routing_service.chats.models import Channel, Conversation, Provider, RoutingPolicy
from routing_service.tenancy.models import Company

MASK = "••••"
# Config keys whose values are credentials, whatever the provider: never echoed back.
_SENSITIVE_KEY = re.compile(r"token|secret|password|passwd|api_?key|private|credential", re.I)
# Telegram accepts only these characters in setWebhook's secret_token (1-256 of them).
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
GENERIC_SECRET_MIN_LENGTH = 16
_URL = URLValidator(schemes=["http", "https"])


@dataclass(frozen=True)
class ConfigSpec:
    """The `config` keys a provider needs; other keys are kept as given (adapters may add)."""

    required: tuple[str, ...] = ()
    urls: tuple[str, ...] = ("api_base_url",)


PROVIDER_CONFIG: dict[str, ConfigSpec] = {
    Provider.GENERIC: ConfigSpec(urls=("callback_url", "api_base_url")),
    Provider.TWILIO: ConfigSpec(required=("account_sid",)),
    Provider.WHATSAPP: ConfigSpec(required=("phone_number_id", "access_token", "verify_token")),
    Provider.TELEGRAM: ConfigSpec(required=("bot_token",)),
}


class ChannelInUse(Exception):
    """The channel has conversations: deleting it would orphan their history."""


# --- Pure rules -------------------------------------------------------------------------------


def is_sensitive_key(key: str) -> bool:
    return bool(_SENSITIVE_KEY.search(key))


def mask_secret(value: str) -> str:
    """What a response shows instead of a credential: only the last four characters of a long
    one (enough to tell two tokens apart), nothing of a short one."""
    return f"{MASK}{value[-4:]}" if len(value) >= 12 else MASK * 2


def masked_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: mask_secret(str(value)) if is_sensitive_key(key) and value else value
        for key, value in config.items()
    }


def unmask_config(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """`new` with every masked credential that matches the stored one replaced by the stored
    value: a client that PUTs back what it read must not overwrite a token with its mask."""
    merged = dict(new)
    for key, value in new.items():
        stored = old.get(key)
        if not (is_sensitive_key(key) and isinstance(stored, str) and stored):
            continue
        if value == mask_secret(stored):
            merged[key] = stored
    return merged


def validate_channel_config(provider: str, config: Any) -> dict[str, list[str]]:
    """Errors per config key (empty when usable). `config` is the whole object, not a patch."""
    if not isinstance(config, Mapping):
        return {"non_field_errors": ["Must be a JSON object."]}
    spec = PROVIDER_CONFIG.get(provider, ConfigSpec())
    errors: dict[str, list[str]] = {}
    for key in spec.required:
        value = config.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors[key] = [f"This setting is required for {provider} channels."]
        elif not isinstance(value, str):
            errors[key] = ["Must be a string."]
    for key in spec.urls:
        value = config.get(key)
        if value in (None, ""):
            continue
        try:
            if not isinstance(value, str):
                raise ValidationError("Enter a valid URL.")
            _URL(value)
        except ValidationError:
            errors[key] = ["Enter a valid URL."]
    if "csat" in config and (csat_errors := csat.validate_config(config["csat"])):
        errors["csat"] = csat_errors
    for key, value in config.items():
        masked = isinstance(value, str) and value.startswith(MASK)
        if masked and key not in errors and is_sensitive_key(key):
            errors[key] = ["This is the masked value the API shows; send the real one."]
    return errors


def validate_channel_secret(provider: str, secret: str) -> list[str]:
    """What is wrong with a secret for this provider (empty when it will work)."""
    if not secret or not secret.strip():
        return ["This field may not be blank."]
    if provider == Provider.GENERIC and len(secret) < GENERIC_SECRET_MIN_LENGTH:
        return [f"Use at least {GENERIC_SECRET_MIN_LENGTH} characters for an HMAC signing key."]
    if provider == Provider.TELEGRAM and not _TELEGRAM_SECRET.fullmatch(secret):
        return ["Telegram allows 1-256 characters: A-Z, a-z, 0-9, _ and -."]
    return []


# --- Writes -----------------------------------------------------------------------------------


def _lock_channel(channel: Channel) -> Channel:
    """The channel row, locked: serialises concurrent secret rotations of one channel."""
    return Channel.objects.unscoped().select_for_update().get(pk=channel.pk)


@transaction.atomic
def create_channel(
    *,
    company: Company,
    name: str,
    provider: str,
    secret: str,
    config: Mapping[str, Any] | None = None,
    max_body_bytes: int | None = None,
    is_active: bool = True,
) -> Channel:
    """A new inbox; its UUID (and so its webhook URL) is generated here and never changes."""
    return Channel.objects.create(
        company=company,
        name=name,
        provider=provider,
        secret=secret,
        config=dict(config or {}),
        max_body_bytes=max_body_bytes,
        is_active=is_active,
    )


@transaction.atomic
def update_channel(
    channel: Channel,
    *,
    revoke_previous_secret: bool = False,
    **changes: Any,
) -> Channel:
    """Apply `changes` (name, provider, secret, config, max_body_bytes, is_active).

    A new secret starts a rotation: the old one stays valid as `previous_secret` until the
    next rotation or `revoke_previous_secret`, so providers can be re-pointed without a gap.
    """
    allowed = {"name", "provider", "secret", "config", "max_body_bytes", "is_active"}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"unknown channel fields: {sorted(unknown)}")
    locked = _lock_channel(channel)
    new_secret = changes.pop("secret", None)
    if new_secret is not None and new_secret != locked.secret:
        locked.previous_secret = locked.secret
        locked.secret = new_secret
    if revoke_previous_secret:
        locked.previous_secret = ""
    if "config" in changes:
        changes["config"] = unmask_config(changes["config"], locked.config)
    for field, value in changes.items():
        setattr(locked, field, value)
    locked.save()
    return locked


@transaction.atomic
def delete_channel(channel: Channel) -> None:
    """Delete an unused channel; one with conversations is deactivated instead by its admin.

    Raises ChannelInUse rather than deleting message history with it.
    """
    locked = _lock_channel(channel)
    if Conversation.objects.unscoped().filter(channel_id=locked.pk).exists():
        raise ChannelInUse(locked.pk)
    locked.delete()


@transaction.atomic
def update_routing_policy(company: Company | int, **changes: Any) -> RoutingPolicy:
    """Change the company's routing settings (the policy exists: `create_company` made it)."""
    company_id = company if isinstance(company, int) else company.pk
    policy, _ = (
        RoutingPolicy.objects.unscoped().select_for_update().get_or_create(company_id=company_id)
    )
    for field, value in changes.items():
        if field in {"id", "company", "company_id", "updated_at"}:
            raise TypeError(f"{field} cannot be changed")
        setattr(policy, field, value)
    policy.save()
    return policy
