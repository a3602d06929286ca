"""deploy/.env.example names every environment variable routing_service/settings.py reads."""

from __future__ import annotations

import re

from tests.deploy.conftest import DEPLOY, ROOT

READERS = re.compile(
    r"""(?:env_int|env_bool|env_list|redis_url|os\.environ\.get|os\.environ\[|getenv)\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def test_every_setting_read_from_the_environment_is_explained() -> None:
    names = set(READERS.findall((ROOT / "routing_service" / "settings.py").read_text()))
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "WEBHOOK_MAX_BODY_BYTES"} <= names
    example = (DEPLOY / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    assert sorted(names - listed) == []


def test_every_variable_the_deploy_scripts_read_is_explained() -> None:
    """The entrypoint and the web script's knobs (ASGI_SERVER, WEB_CONCURRENCY, ...) too."""
    names: set[str] = set()
    for script in ("entrypoint.sh", "web.sh", "worker.sh"):
        text = (DEPLOY / script).read_text()
        names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)(?::-|:\?|\})", text))
        names |= set(re.findall(r"os\.environ(?:\.get)?[(\[]\s*[\"']([A-Z][A-Z0-9_]+)", text))
    assert {"ASGI_SERVER", "WEB_CONCURRENCY", "PORT"} <= names
    example = (DEPLOY / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    assert sorted(names - listed) == []
