"""The image: its build steps run here (collectstatic), its entrypoint matches the Procfile."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.deploy.conftest import DEPLOY, ROOT

ENTRYPOINT = DEPLOY / "entrypoint.sh"


def test_dockerfile_runs_the_build_steps_script_as_a_non_root_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "deploy/build-steps.sh all" in text
    assert re.search(r"^USER switchboard", text, re.M)
    assert '"/app/deploy/entrypoint.sh"' in text
    assert os.access(DEPLOY / "build-steps.sh", os.X_OK)
    assert os.access(ENTRYPOINT, os.X_OK)


def test_build_steps_collect_static_files_with_the_build_environment(tmp_path: Path) -> None:
    static = tmp_path / "static"
    env = {
        "PATH": os.environ["PATH"],
        "PYTHON": sys.executable,
        "STATIC_ROOT": str(static),
        "APP_DIR": str(ROOT),
    }
    result = subprocess.run(
        ["sh", str(DEPLOY / "build-steps.sh"), "collectstatic"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (static / "favicon.svg").exists()
    assert (static / "admin").is_dir()
    assert any(static.rglob("*.gz")), "compressed copies for nginx's gzip_static"


def test_entrypoint_roles_run_the_procfile_commands() -> None:
    text = ENTRYPOINT.read_text()
    procfile = dict(
        line.split(":", 1)
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    arrays = dict(re.findall(r"^([A-Z]+)_CMD=\((.*?)\)$", text, re.M | re.S))
    for role, command in procfile.items():
        words = shlex.split(command)
        entry = " ".join(arrays[role.upper()].split())
        if role == "web":  # the same script (server chosen by ASGI_SERVER), every interface
            assert words == ["deploy/web.sh", "127.0.0.1"]
            assert entry == '"$APP_DIR/deploy/web.sh" 0.0.0.0'
        elif role == "worker":  # the Procfile adds the restart loop the containers do not need
            assert words[0] == "deploy/worker.sh"
            assert entry.startswith("python manage.py rundramatiq --processes")
            assert "DRAMATIQ_PROCESSES:-1" in entry and "DRAMATIQ_THREADS:-4" in entry
        else:
            assert entry == command.strip(), role


def test_entrypoint_is_valid_bash_and_rejects_an_unknown_health_role() -> None:
    assert subprocess.run(["bash", "-n", str(ENTRYPOINT)], check=False).returncode == 0
    result = subprocess.run(
        ["bash", str(ENTRYPOINT), "health", "nonsense"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "APP_DIR": str(ROOT)},
        check=False,
    )
    assert result.returncode == 2
    assert "unknown role" in result.stderr
