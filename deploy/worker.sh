#!/usr/bin/env bash
# The dramatiq workers, restarted whenever they die: `deploy/worker.sh [rundramatiq options]`.
#
# dramatiq's parent process cannot replace a worker child that died (SIGKILL, out of memory):
# it stops the other children and exits non-zero, leaving the restart to a supervisor. In a
# container that supervisor is the orchestrator (compose `restart: unless-stopped`, Kubernetes'
# restartPolicy), so the image's `worker` role runs rundramatiq directly. Locally honcho runs the
# Procfile and would stop *every* process when one exits; the Procfile's worker is this loop.
# The jobs a dead worker held are redelivered by the broker either way (docs/operations.md).
#
# SIGTERM/SIGINT are passed on to rundramatiq (which lets running jobs finish) and end the loop.
set -uo pipefail
cd "${APP_DIR:-$(dirname "$0")/..}"
delay="${WORKER_RESTART_DELAY:-1}"
child=0
stopping=0

stop() {
  stopping=1
  if [ "$child" -ne 0 ]; then kill -TERM "$child" 2>/dev/null; fi
}
trap stop TERM INT

while :; do
  "${PYTHON:-python}" manage.py rundramatiq "$@" &
  child=$!
  status=0
  wait "$child" || status=$?
  if [ "$stopping" -eq 1 ]; then
    # The trapped signal ended `wait` early: wait again, for the workers' own exit status
    # (127: the first wait had already collected it).
    final=0
    wait "$child" 2>/dev/null || final=$?
    if [ "$final" -ne 127 ]; then status=$final; fi
  fi
  child=0
  if [ "$stopping" -eq 1 ]; then exit "$status"; fi
  printf '%s worker.sh: rundramatiq exited with status %s; restarting in %ss\n' \
    "$(date -u +%FT%TZ)" "$status" "$delay" >&2
  sleep "$delay" &
  wait $! 2>/dev/null
  if [ "$stopping" -eq 1 ]; then exit 0; fi
done
