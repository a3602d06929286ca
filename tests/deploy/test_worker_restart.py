"""A dead dramatiq worker is restarted everywhere: deploy/worker.sh under the Procfile, the
container's restart policy under docker compose and Kubernetes."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import yaml

from tests.deploy.conftest import DEPLOY, ROOT

WORKER_SH = DEPLOY / "worker.sh"

# Stands in for `python manage.py rundramatiq ...`: records its arguments, exits 1 (as dramatiq
# does when a worker child dies) the first two times, then runs until SIGTERM and exits 0.
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$RUNS"
if [ "$(wc -l < "$RUNS")" -le 2 ]; then exit 1; fi
trap 'echo TERM >> "$RUNS"; exit 0' TERM
while :; do sleep 0.05; done
"""


def procfile() -> dict[str, str]:
    return dict(
        line.split(":", 1)
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )


def test_the_procfile_worker_runs_rundramatiq_under_the_restart_loop() -> None:
    words = shlex.split(procfile()["worker"])
    assert words == ["deploy/worker.sh", "--processes", "1", "--threads", "4"]
    assert os.access(WORKER_SH, os.X_OK)
    assert subprocess.run(["bash", "-n", str(WORKER_SH)], check=False).returncode == 0


def test_worker_sh_restarts_a_dead_rundramatiq_and_stops_on_sigterm(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    runs = tmp_path / "runs"
    runs.touch()
    env = {
        "PATH": os.environ["PATH"],
        "PYTHON": str(fake),
        "RUNS": str(runs),
        "APP_DIR": str(ROOT),
        "WORKER_RESTART_DELAY": "0.1",
    }
    process = subprocess.Popen(
        ["bash", str(WORKER_SH), "--processes", "1", "--threads", "4"],
        env=env,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while len(runs.read_text().splitlines()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the third run is up and has set its trap
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    lines = runs.read_text().splitlines()
    assert lines == ["manage.py rundramatiq --processes 1 --threads 4"] * 3 + ["TERM"]
    assert process.returncode == 0
    assert stderr.decode().count("rundramatiq exited with status 1; restarting") == 2


def test_containers_of_the_worker_are_restarted_when_dramatiq_exits() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert compose["services"]["worker"]["restart"] == "unless-stopped"
    deployment = yaml.safe_load((DEPLOY / "k8s" / "deployment-worker.yaml").read_text())
    assert deployment["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    # The image's worker role runs dramatiq itself (exec): its exit is the container's exit.
    entrypoint = (DEPLOY / "entrypoint.sh").read_text()
    assert 'worker) wait_for_services; exec "${WORKER_CMD[@]}" "$@" ;;' in entrypoint
