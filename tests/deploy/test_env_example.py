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
