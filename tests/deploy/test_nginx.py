"""deploy/nginx/switchboard.conf passes `nginx -t` and carries the limits the app relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.deploy.conftest import DEPLOY

SITE = DEPLOY / "nginx" / "switchboard.conf"


def nginx_binary() -> str:
    sbin = Path("/usr/sbin/nginx")
    found = shutil.which("nginx") or (str(sbin) if sbin.exists() else None)
    if found is None:
        pytest.fail("nginx is missing: scripts/test installs it (ensure_nginx in scripts/lib.sh)")
    return found


def location_block(path: str) -> str:
    text = SITE.read_text()
    match = re.search(r"location\s+" + re.escape(path) + r"\s*\{(.*?)\n    \}", text, re.S)
    assert match, f"no location {path}"
    return match.group(1)


def test_site_config_passes_nginx_t_with_a_local_upstream(tmp_path: Path) -> None:
    wrapper = tmp_path / "nginx.conf"
    wrapper.write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\n"
        "events {}\n"
        "http {\n"
        "  include /etc/nginx/mime.types;\n"
        "  upstream switchboard_web { server 127.0.0.1:8000; }\n"
        f"  include {SITE};\n"
        "}\n"
    )
    result = subprocess.run(
        [nginx_binary(), "-t", "-q", "-p", str(tmp_path), "-c", str(wrapper)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_compose_upstream_file_defines_the_upstream_the_site_uses() -> None:
    upstream = (DEPLOY / "nginx" / "upstream.conf").read_text()
    assert "upstream switchboard_web" in upstream
    assert "server web:8000" in upstream


def test_websockets_are_upgraded_with_a_long_read_timeout() -> None:
    block = location_block("/ws/")
    assert "proxy_set_header Upgrade $http_upgrade;" in block
    assert "proxy_set_header Connection $sb_connection_upgrade;" in block
    timeout = re.search(r"proxy_read_timeout (\d+)s;", block)
    assert timeout and int(timeout.group(1)) >= 3600


def test_webhook_body_limit_matches_webhook_max_body_bytes() -> None:
    limit = re.search(r"client_max_body_size (\d+)([km]?);", location_block("/webhooks/"))
    assert limit
    factor = {"": 1, "k": 1024, "m": 1024 * 1024}[limit.group(2)]
    assert int(limit.group(1)) * factor == settings.WEBHOOK_MAX_BODY_BYTES == 1024 * 1024


def test_forwarded_headers_are_set_and_static_files_come_from_the_shared_volume() -> None:
    text = SITE.read_text()
    assert "proxy_set_header X-Forwarded-Proto" in text
    assert "proxy_set_header X-Forwarded-Host $host;" in text
    assert "alias /srv/static/;" in location_block("/static/")
