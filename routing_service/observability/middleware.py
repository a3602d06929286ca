"""Django middleware: request ids, and probes answered before anything that could redirect.

`RequestIdMiddleware` takes `X-Request-ID` from the request (a proxy's, when it is sane) or
makes one, binds it to the structlog context for every log line of the request, and echoes it.

`ProbeMiddleware` answers `/healthz`, `/readyz` and `/metrics` itself, ahead of the security
redirect, sessions, CSRF, authentication and the tenant middleware: a probe from a load
balancer or Prometheus must not be redirected to HTTPS or a login page, open a session, or
depend on a database lookup it did not ask for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse

from routing_service.observability.health import healthz, readyz
from routing_service.observability.logging import request_id_from
from routing_service.observability.metrics import metrics_view

HEADER = "X-Request-ID"
GetResponse = Callable[[HttpRequest], Any]


class RequestIdMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        request_id = request_id_from(request.headers.get(HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response: HttpResponse = self.get_response(request)
        response[HEADER] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.headers.get(HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response: HttpResponse = await self.get_response(request)
        response[HEADER] = request_id
        return response


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics_view,
}


async def _healthz(request: HttpRequest) -> HttpResponse:
    return healthz(request)  # no I/O: no thread hop


_ASYNC_PROBES: dict[str, Callable[[HttpRequest], Awaitable[HttpResponse]]] = {
    "/healthz": _healthz,
    "/readyz": sync_to_async(readyz),  # the database check uses Django's connection: its thread
    "/metrics": sync_to_async(metrics_view),
}


class ProbeMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        path = request.path_info.rstrip("/") or "/"
        if self.is_async:
            probe = _ASYNC_PROBES.get(path)
            return probe(request) if probe is not None else self.get_response(request)
        sync_probe = PROBES.get(path)
        return sync_probe(request) if sync_probe is not None else self.get_response(request)
