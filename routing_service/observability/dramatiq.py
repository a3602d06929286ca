"""dramatiq's own Prometheus middleware, made safe for in-process workers and for a local start.

`dramatiq.middleware.prometheus.Prometheus` creates its metrics in `after_process_boot`, which
only the `dramatiq` CLI (`manage.py rundramatiq`) emits; a `dramatiq.Worker` started in-process
(the tests) never does, and the stock hooks would then fail on every message. This subclass does
nothing until the process booted. It also switches prometheus_client to multiprocess values at
boot even when Django's start-up imported prometheus_client first (our own metrics modules do):
the exposition server forked by the CLI reads the worker processes' files in `dramatiq_prom_db`.

That server is ours too (`run_exposition_server`, the middleware's `forks`). The stock one binds
`dramatiq_prom_host` (default 0.0.0.0: every interface, for an endpoint without a token) and,
when its port is taken (a second worker on the host, an old one still running), dies with a
traceback in the middle of the worker's log. Ours binds `DRAMATIQ_METRICS_ADDR` (default
127.0.0.1) on `DRAMATIQ_METRICS_PORT` (default 9191, 0: no server), and a busy port costs one
warning line: the workers run on, without metrics from this process group.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from http.server import HTTPServer
from typing import Any

from dramatiq.middleware.prometheus import DB_PATH, _metrics_handler
from dramatiq.middleware.prometheus import Prometheus as _Prometheus

logger = logging.getLogger(__name__)


def run_exposition_server() -> int:
    """The process the dramatiq CLI forks for the middleware: serve the workers' metrics.

    Runs in a bare fork of the CLI's main process (no Django set-up there): the settings
    module is read for the address and port, nothing else. Returns the fork's exit code.
    """
    from django.conf import settings

    address = (settings.DRAMATIQ_METRICS_ADDR, settings.DRAMATIQ_METRICS_PORT)
    try:
        server = HTTPServer(address, _metrics_handler)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        logger.warning(
            "worker metrics not served: %s:%d is in use (set DRAMATIQ_METRICS_PORT, 0 for none)",
            *address,
        )
        return 0
    logger.info("worker metrics on http://%s:%d/", *address)
    with server:
        server.serve_forever()
    return 0


class Prometheus(_Prometheus):
    booted = False

    @property
    def forks(self) -> list[Callable[[], int]]:
        """Our exposition server instead of dramatiq's; none when the port is 0."""
        from django.conf import settings

        return [run_exposition_server] if settings.DRAMATIQ_METRICS_PORT else []

    def after_process_boot(self, broker: Any) -> None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = DB_PATH
        from prometheus_client import values

        values.ValueClass = values.get_value_class()
        super().after_process_boot(broker)
        self.booted = True

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        if self.booted:
            super().after_worker_shutdown(broker, worker)

    def after_nack(self, broker: Any, message: Any) -> None:
        if self.booted:
            super().after_nack(broker, message)

    def after_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
        if self.booted:
            super().after_enqueue(broker, message, delay)

    def before_delay_message(self, broker: Any, message: Any) -> None:
        if self.booted:
            super().before_delay_message(broker, message)

    def before_process_message(self, broker: Any, message: Any) -> None:
        if self.booted:
            super().before_process_message(broker, message)

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        if self.booted:
            super().after_process_message(broker, message, result=result, exception=exception)

    after_skip_message = after_process_message
