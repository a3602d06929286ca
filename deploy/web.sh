#!/usr/bin/env bash
# The web process (HTTP, webhooks, websockets): routing_service.asgi:application under the ASGI
# server ASGI_SERVER names, on <host>:$PORT. The Procfile runs it on 127.0.0.1, the image's
# entrypoint (`entrypoint.sh web`) on 0.0.0.0.
#
#   ASGI_SERVER=uvicorn (default)  uvloop + httptools; WEB_CONCURRENCY worker processes share
#                                  the port (default 1). docs/operations.md "Web server" has
#                                  the figures behind the default.
#   ASGI_SERVER=daphne             still supported; one process per port (run more behind nginx)
#
# Both: a listen backlog for reconnect storms (thousands of handshakes at once), no server
# access log (nginx logs access; a line per request costs more than a webhook), X-Forwarded-*
# trusted from FORWARDED_ALLOW_IPS (uvicorn; default any, as daphne's --proxy-headers: only
# nginx reaches the web port). In development (DEBUG=true, as scripts/start sets; or
# ACCESS_LOG=true) the application itself logs one line per request and websocket handshake,
# "POST /webhooks/generic/<uuid>/ 202 4 ms", under either server
# (routing_service/observability/access.py).
set -euo pipefail

HOST="${1:-127.0.0.1}"
[ "$#" -gt 0 ] && shift
PORT="${PORT:-8000}"
APP=routing_service.asgi:application

case "${ASGI_SERVER:-uvicorn}" in
  uvicorn)
    exec uvicorn "$APP" --host "$HOST" --port "$PORT" --workers "${WEB_CONCURRENCY:-1}" \
      --loop uvloop --http httptools --ws websockets-sansio --ws-per-message-deflate false \
      --lifespan off --backlog 2048 --no-access-log --log-level warning \
      --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-*}" \
      --timeout-graceful-shutdown 10 "$@"
    ;;
  daphne)
    exec daphne -e "tcp:port=$PORT:interface=$HOST:backlog=2048" -v 0 --proxy-headers "$APP" "$@"
    ;;
  *)
    echo "web.sh: ASGI_SERVER must be uvicorn or daphne, not '${ASGI_SERVER}'" >&2
    exit 2
    ;;
esac
