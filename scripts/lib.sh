# Shared helpers of scripts/start and scripts/test: make a fresh Debian machine (as root) able to
# run Switchboard. Everything here is idempotent and quick when there is nothing to do.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
VAR="$ROOT/var"
mkdir -p "$VAR"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

APT_UPDATED=0
apt_install() {
  # apt_install <command-or-path-to-check> <debian packages...>
  local probe="$1"; shift
  if command -v "$probe" >/dev/null 2>&1 || [ -e "$probe" ]; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    echo "missing $probe: run as root (or install: $*)" >&2; exit 1
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"; DEBIAN_FRONTEND=noninteractive apt-get update -qq; APT_UPDATED=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

find_python() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && \
       "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

ensure_venv() {
  # ensure_venv <extras, e.g. "dev" or "">
  local extras="$1" py
  if ! py="$(find_python)"; then
    apt_install python3.11 python3.11 python3.11-venv python3.11-dev build-essential libpq-dev
    py="$(find_python)"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv with $py"
    "$py" -m venv "$VENV" || { apt_install /usr/share/doc/python3.11-venv python3.11-venv; "$py" -m venv "$VENV"; }
  fi
  local spec="$ROOT" stamp
  [ -n "$extras" ] && spec="$ROOT[${extras}]"
  stamp="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)-${extras:-base}"
  if [ ! -f "$stamp" ]; then
    log "installing Python dependencies ($spec)"
    "$VENV/bin/pip" install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/pip" install -q -e "$spec" 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import django, channels, dramatiq" # fail here if the install did
    touch "$stamp"
  fi
}

redis_answers() { # redis_answers <port>
  "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, redis
redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), socket_connect_timeout=1).ping()
PY
}

ensure_redis_binaries() {
  # redis-server and redis-cli: the Redis Cluster tests start a local cluster of their own.
  apt_install redis-server redis-server
  apt_install redis-cli redis-tools
}

ensure_redis() {
  # Uses a Redis on 127.0.0.1:6379 when one answers; otherwise starts a private one on
  # $PRIVATE_REDIS_PORT (append-only, data under var/redis) and prints its URL base.
  local private_port="${PRIVATE_REDIS_PORT:-6390}"
  if redis_answers 6379; then echo "redis://127.0.0.1:6379"; return 0; fi
  if ! redis_answers "$private_port"; then
    apt_install redis-server redis-server
    mkdir -p "$VAR/redis"
    log "starting a private Redis on 127.0.0.1:$private_port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$private_port" --dir "$VAR/redis" \
      --appendonly yes --appendfsync everysec --save "" \
      --pidfile "$VAR/redis/redis.pid" --logfile "$VAR/redis/redis.log" >/dev/null
    for _ in $(seq 50); do redis_answers "$private_port" && break; sleep 0.1; done
  fi
  echo "redis://127.0.0.1:$private_port"
}

pg_answers() {
  "$VENV/bin/python" - <<'PY' 2>/dev/null
import psycopg
psycopg.connect("postgresql://postgres:postgres@127.0.0.1:5432/postgres", connect_timeout=2).close()
PY
}

ensure_postgres() {
  # The test suite needs PostgreSQL on 127.0.0.1:5432 (user postgres). Installs and starts
  # Debian's cluster when none answers, giving the postgres role a password for TCP logins.
  if pg_answers; then return 0; fi
  apt_install pg_ctlcluster postgresql
  local version
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
  for _ in $(seq 50); do
    su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break; sleep 0.2
  done
  su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  pg_answers || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
}

rabbitmq_answers() {
  "$VENV/bin/python" - <<'PY' 2>/dev/null
import pika
pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F?connection_attempts=1&socket_timeout=2")).close()
PY
}

ensure_rabbitmq() {
  # tests/outbound checks the RabbitMQ broker option (DRAMATIQ_BROKER_URL=amqp://) against a
  # real server on 127.0.0.1:5672 (guest/guest); each run uses a vhost of its own (rabbitmqctl).
  if rabbitmq_answers; then return 0; fi
  apt_install rabbitmq-server rabbitmq-server
  log "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  for _ in $(seq 120); do rabbitmq_answers && return 0; sleep 0.5; done
  echo "RabbitMQ does not answer on 127.0.0.1:5672" >&2; exit 1
}

ensure_chromium() {
  apt_install /usr/bin/chromium chromium fonts-liberation
}

ensure_pgbouncer() {
  # tests/pgbouncer runs the integration tests through a private PgBouncer in transaction mode
  # (Debian's binary; the package's own service is not needed and not started here).
  apt_install /usr/sbin/pgbouncer pgbouncer
}

ensure_gettext() {
  # xgettext/msgmerge/msgfmt: `manage.py makemessages` and `compilemessages` (scripts/messages)
  # and tests/i18n, which re-extracts the strings to check that the catalogues are complete.
  # The compiled catalogues (.mo) are committed, so running Switchboard does not need it.
  apt_install xgettext gettext
}

# What makemessages skips: other people's code, generated files, tests and the catalogues.
MAKEMESSAGES_IGNORE=(
  --ignore=node_modules --ignore=.venv --ignore=staticfiles --ignore=var --ignore=tests
  --ignore=frontend_static/vendor --ignore=deploy --ignore=docs --ignore=scripts
  --ignore=locale --ignore=test-artifacts
)

ensure_nginx() {
  # tests/deploy runs `nginx -t` on deploy/nginx/switchboard.conf with Debian's nginx binary.
  apt_install /usr/sbin/nginx nginx
}
