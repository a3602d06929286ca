"""dramatiq's own Prometheus middleware, made safe for in-process workers.

`dramatiq.middleware.prometheus.Prometheus` creates its metrics in `after_process_boot`, which
only the `dramatiq` CLI (`manage.py rundramatiq`) emits; a `dramatiq.Worker` started in-process
(the tests) never does, and the stock hooks would then fail on every message. This subclass does
nothing until the process booted. It also switches prometheus_client to multiprocess values at
boot even when Django's start-up imported prometheus_client first (our own metrics modules do):
the exposition server forked by the CLI (port `dramatiq_prom_port`, default 9191) reads the
worker processes' files in `dramatiq_prom_db`.
"""

from __future__ import annotations

import os
from typing import Any

from dramatiq.middleware.prometheus import DB_PATH
from dramatiq.middleware.prometheus import Prometheus as _Prometheus


class Prometheus(_Prometheus):
    booted = False

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
