#!/bin/sh
# The image's build steps, as one script: deploy/Dockerfile runs `build-steps.sh all`, and
# tests/deploy runs the cheap parts (collectstatic) in a temporary directory, so the two cannot
# drift apart.
#
#   build-steps.sh install        pip install . (the project and its dependencies)
#   build-steps.sh collectstatic  collect static files into $STATIC_ROOT with a build-only env
#   build-steps.sh all            both, in that order
#
# Environment: APP_DIR (the source tree, default: this script's parent), PYTHON (default:
# python), STATIC_ROOT (default: $APP_DIR/staticfiles).
set -eu

APP_DIR="${APP_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
PYTHON="${PYTHON:-python}"
STATIC_ROOT="${STATIC_ROOT:-$APP_DIR/staticfiles}"

install() {
  # The wheel carries the Python packages and pulls every dependency; templates, vendored
  # assets and manage.py are run from $APP_DIR (PYTHONPATH=$APP_DIR in the image).
  "$PYTHON" -m pip install --no-cache-dir --no-compile "$APP_DIR"
}

collectstatic() {
  # Settings are imported, nothing is connected: a dummy SECRET_KEY (it signs nothing at build
  # time and is not in the final environment), no DATABASE_URL, a Redis URL that is never
  # dialled, and a throwaway var dir for the SQLite default.
  build_var="$(mktemp -d)"
  env \
    SECRET_KEY="build-only-dummy-secret-key-not-used-at-runtime-0123456789" \
    DEBUG=false \
    DATABASE_URL= \
    REDIS_URL="redis://build.invalid:6379/0" \
    SWITCHBOARD_VAR_DIR="$build_var" \
    STATIC_ROOT="$STATIC_ROOT" \
    DJANGO_SETTINGS_MODULE=routing_service.settings \
    PYTHONPATH="$APP_DIR" \
    "$PYTHON" "$APP_DIR/manage.py" collectstatic --noinput --verbosity 0
  rm -rf "$build_var"
}

case "${1:-all}" in
  install) install ;;
  collectstatic) collectstatic ;;
  all) install; collectstatic ;;
  *) echo "usage: $0 install|collectstatic|all" >&2; exit 2 ;;
esac
