#!/usr/bin/env bash
# One image, every process: `entrypoint.sh <role>`. The roles are the Procfile's processes
# (scripts/start runs those locally) plus the one-shot `migrate` and the probes.
#
#   web        deploy/web.sh on 0.0.0.0:$PORT (8000): uvicorn (WEB_CONCURRENCY workers) or daphne,
#              as ASGI_SERVER says; access log off: nginx logs access
#   router     manage.py run_router (run several: they share the consumer group)
#   sla        manage.py run_sla_timer (deadlines, and the 5-minute metrics roll-up enqueue)
#   scheduler  the same process as `sla`: run_sla_timer *is* the periodic scheduler (one
#              timer per interval enqueues roll_up_chat_metrics, see sla_engine/timer.py);
#              kept as a name so a deployment can say what it runs, not a second process
#   presence   manage.py run_presence
#   worker     manage.py rundramatiq --processes 1 --threads 4 (every queue). When a worker
#              child dies dramatiq stops and exits non-zero; the container's restart policy
#              (compose, Kubernetes) starts it again. The Procfile runs deploy/worker.sh, which
#              restarts it in place (honcho would otherwise stop every process).
#   migrate    manage.py migrate --noinput, then exit (one-shot, before the others start)
#   health <role>   probe used by docker-compose and Kubernetes (exit 0 = healthy)
#   manage ...      any manage.py command (createsuperuser, dead_letters, ...)
#   anything else   executed as given
#
# Long-running roles first wait (up to WAIT_TIMEOUT seconds, default 120) until PostgreSQL
# (DATABASE_URL) and every Redis URL answer, then `exec` the process so it receives SIGTERM
# itself (routers and timers finish the batch in hand and exit).
set -euo pipefail

APP_DIR="${APP_DIR:-/app}"
cd "$APP_DIR"
PORT="${PORT:-8000}"

# The command of each role; keep in step with ../Procfile (tests/deploy checks it).
WEB_CMD=("$APP_DIR/deploy/web.sh" 0.0.0.0)
ROUTER_CMD=(python manage.py run_router)
SLA_CMD=(python manage.py run_sla_timer)
PRESENCE_CMD=(python manage.py run_presence)
WORKER_CMD=(python manage.py rundramatiq --processes "${DRAMATIQ_PROCESSES:-1}"
  --threads "${DRAMATIQ_THREADS:-4}")

log() { printf '%s entrypoint: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

wait_for_services() {
  python - <<'PY'
import os, sys, time

deadline = time.monotonic() + int(os.environ.get("WAIT_TIMEOUT", "120"))
redis_urls = {os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}
for name in ("STREAM_REDIS_URL", "CHANNEL_LAYER_REDIS_URL", "CACHE_REDIS_URL", "DRAMATIQ_REDIS_URL"):
    if os.environ.get(name):
        redis_urls.add(os.environ[name])
broker_url = os.environ.get("DRAMATIQ_BROKER_URL", "")
if broker_url.startswith(("redis", "unix")):
    redis_urls.add(broker_url)
database_url = os.environ.get("DATABASE_URL", "")


def postgres_ok() -> str | None:
    if not database_url or database_url.startswith("sqlite"):
        return None
    import psycopg

    try:
        psycopg.connect(database_url, connect_timeout=3).close()
    except Exception as exc:
        return f"PostgreSQL: {exc}".strip()
    return None


def redis_ok() -> str | None:
    import redis

    for url in sorted(redis_urls):
        try:
            redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
        except Exception as exc:
            return f"Redis {url.rsplit('@', 1)[-1]}: {exc}"
    return None


def rabbitmq_ok() -> str | None:
    if not broker_url.startswith("amqp"):
        return None
    import pika

    try:
        pika.BlockingConnection(pika.URLParameters(broker_url)).close()
    except Exception as exc:
        return f"RabbitMQ {broker_url.rsplit('@', 1)[-1]}: {exc!r}"
    return None


while True:
    problem = postgres_ok() or redis_ok() or rabbitmq_ok()
    if problem is None:
        sys.exit(0)
    if time.monotonic() > deadline:
        print(f"entrypoint: giving up waiting: {problem}", file=sys.stderr)
        sys.exit(1)
    print(f"entrypoint: waiting: {problem}", file=sys.stderr)
    time.sleep(2)
PY
}

process_running() {
  # process_running <pattern>: some process of this container has <pattern> in its command line.
  local f
  for f in /proc/[0-9]*/cmdline; do
    if tr '\0' ' ' <"$f" 2>/dev/null | grep -q -- "$1"; then return 0; fi
  done
  return 1
}

health() {
  case "${1:-}" in
    web)
      # Django checks the Host header: ask as the first ALLOWED_HOSTS name (wildcards aside).
      local host="${ALLOWED_HOSTS:-localhost}"
      host="${host%%,*}"; host="${host#.}"; [ "$host" = "*" ] && host=localhost
      exec curl -fsS -o /dev/null --max-time 5 -H "Host: $host" "http://127.0.0.1:$PORT/healthz"
      ;;
    router) process_running "manage.py run_router" ;;
    sla | scheduler) process_running "manage.py run_sla_timer" ;;
    presence) process_running "manage.py run_presence" ;;
    worker) process_running "dramatiq" ;;
    *) echo "health: unknown role ${1:-}" >&2; exit 2 ;;
  esac
}

sync_static() {
  # Static files are collected at build time into $STATIC_ROOT; nginx serves them from a
  # shared volume mounted at $STATIC_SYNC_DIR, refreshed on every start (new image, new files).
  if [ -n "${STATIC_SYNC_DIR:-}" ] && [ -d "${STATIC_ROOT:-$APP_DIR/staticfiles}" ]; then
    cp -a "${STATIC_ROOT:-$APP_DIR/staticfiles}/." "$STATIC_SYNC_DIR/"
  fi
}

role="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$role" in
  web) wait_for_services; sync_static; log "web on 0.0.0.0:$PORT"; exec "${WEB_CMD[@]}" "$@" ;;
  router) wait_for_services; exec "${ROUTER_CMD[@]}" "$@" ;;
  sla | scheduler) wait_for_services; exec "${SLA_CMD[@]}" "$@" ;;
  presence) wait_for_services; exec "${PRESENCE_CMD[@]}" "$@" ;;
  worker) wait_for_services; exec "${WORKER_CMD[@]}" "$@" ;;
  migrate) wait_for_services; exec python manage.py migrate --noinput "$@" ;;
  health) health "$@" ;;
  manage) exec python manage.py "$@" ;;
  *) exec "$role" "$@" ;;
esac
