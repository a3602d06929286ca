"""System checks for combinations of the security settings that are each valid alone."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register()
def login_and_metrics_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    per_account = settings.LOGIN_FAILURES_PER_ACCOUNT
    per_address = settings.LOGIN_FAILURES_PER_ADDRESS
    if per_account and per_address and per_address < per_account:
        problems.append(
            Warning(
                "LOGIN_FAILURES_PER_ADDRESS is below LOGIN_FAILURES_PER_ACCOUNT: one mistyped "
                "account locks its whole address before its own limit is reached.",
                id="switchboard.W001",
            )
        )
    if not settings.METRICS_ALLOWED_IPS and not settings.METRICS_TOKEN:
        problems.append(
            Warning(
                "METRICS_ALLOWED_IPS is empty and METRICS_TOKEN unset: /metrics refuses everyone.",
                id="switchboard.W002",
            )
        )
    return problems


# Backends that never hand a message to a mail server: password reset links would sit in a log
# file (console) or nowhere at all, and users would wait for an email that never comes.
_UNDELIVERED_EMAIL_BACKENDS = (
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
)


@register(Tags.security, deploy=True)
def deploy_security_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if settings.WEBHOOK_TRUST_FORWARDED_HEADERS and not settings.TRUSTED_PROXY_COUNT:
        problems.append(
            Warning(
                "Behind a proxy (WEBHOOK_TRUST_FORWARDED_HEADERS) but TRUSTED_PROXY_COUNT is 0: "
                "every client has the proxy's address, so one guesser locks everyone out of "
                "logging in. Set TRUSTED_PROXY_COUNT (nginx in front: 1).",
                id="switchboard.W101",
            )
        )
    if not settings.LOGIN_FAILURES_PER_ACCOUNT and not settings.LOGIN_FAILURES_PER_ADDRESS:
        problems.append(
            Warning(
                "Login throttling is off (LOGIN_FAILURES_PER_ACCOUNT and _PER_ADDRESS are 0).",
                id="switchboard.W102",
            )
        )
    if settings.API_DOCS_ACCESS == "public":
        problems.append(
            Warning(
                "API_DOCS_ACCESS=public: anyone can read the API schema of this installation.",
                id="switchboard.W103",
            )
        )
    if not settings.DEBUG and settings.EMAIL_BACKEND in _UNDELIVERED_EMAIL_BACKENDS:
        problems.append(
            Warning(
                f"EMAIL_BACKEND is {settings.EMAIL_BACKEND.rsplit('.', 2)[-2]} with DEBUG off: "
                "password reset links are written to a log or dropped, never sent. Set "
                "EMAIL_HOST (and EMAIL_BACKEND=smtp) or a real backend's dotted path.",
                id="switchboard.W104",
            )
        )
    return problems
