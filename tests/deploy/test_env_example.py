"""deploy/.env.example names every environment variable routing_service/settings.py reads, and
is a production environment that Django's deploy check passes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, ROOT

READERS = re.compile(
    r"""(?:env_[a-z]+|redis_url|os\.environ\.get|os\.environ\[|getenv)\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
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


def example_environment() -> dict[str, str]:
    """The variables .env.example sets (its uncommented KEY=value lines), as docker-compose
    reads them."""
    found = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]+)=(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def deploy_check(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`manage.py check --deploy --fail-level WARNING` with exactly `env` and the production
    settings module (nothing is connected: a check reads settings only)."""
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "routing_service.settings",
            "SWITCHBOARD_VAR_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_deploy_check_is_clean_with_the_example_environment(tmp_path: Path) -> None:
    result = deploy_check(tmp_path, example_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("left_out", "warning"),
    [
        ("SECURE_HSTS_SECONDS", "security.W004"),
        ("SECURE_SSL_REDIRECT", "security.W008"),
        ("SESSION_COOKIE_SECURE", "security.W012"),
        ("SECURE_HSTS_PRELOAD", "security.W021"),
    ],
)
def test_each_production_setting_of_the_example_is_needed(
    tmp_path: Path, left_out: str, warning: str
) -> None:
    """The check is not clean by accident: without any one of them it warns."""
    env = example_environment()
    del env[left_out]
    if left_out == "SESSION_COOKIE_SECURE":
        del env["CSRF_COOKIE_SECURE"]
    result = deploy_check(tmp_path, env)
    assert result.returncode != 0
    assert warning in result.stderr + result.stdout
