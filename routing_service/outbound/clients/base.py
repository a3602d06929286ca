"""Outbound delivery: the provider-neutral shapes, errors and the one place that does HTTP.

A provider client is pure: it turns an `OutboundMessage` (plain values, no ORM) into a
`PreparedRequest` and reads the provider's answer. `deliver()` runs the request with explicit
timeouts and classifies the outcome, so every provider retries, gives up and redacts its
credentials the same way:

* connection errors, timeouts, 408, 429 and 5xx raise `RetryableError` (with the server's
  `Retry-After`, if it sent one) — the actor raises so dramatiq retries with backoff;
* every other non-2xx, a redirect and a bad channel configuration raise a final
  `DeliveryError` — retrying cannot help, the message is marked failed at once;
* a URL whose host is not a public address (`destinations.py`) is refused before connecting,
  as a final `ConfigurationError`.

The error text is stored on the message and shown to agents, so it never carries the remote
answer's body (a callback URL pointed at an internal service would read it back to us): only
the status code, the provider's numeric error code and a short reason from a fixed vocabulary.
The body's first bytes go to the server log, for operators.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import httpx
import msgspec

from routing_service.outbound.transport import GuardedTransport, network_reason, refused_reason

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
# A request that uploads a file (Telegram): 25 MiB over a modest uplink.
UPLOAD_TIMEOUT = 50.0
# Providers answer with a few hundred bytes; a callback URL that streams more is not one.
MAX_RESPONSE_BYTES = 256 * 1024
MAX_ERROR_LENGTH = 1000
USER_AGENT = "Switchboard/1.0 (+outbound delivery)"
# 408 is a timeout in HTTP's own words; 429 and 5xx say "later", not "never".
RETRYABLE_STATUSES = frozenset({408, 429})


# --- errors -------------------------------------------------------------------------------------


class DeliveryError(Exception):
    """Delivery failed for good: the provider refused the message or the channel is misconfigured.

    The text is stored on the message and shown to agents, so it never contains a credential.
    """

    retryable = False


class ConfigurationError(DeliveryError):
    """The channel's config or the client's address cannot make a valid request."""


class RetryableError(DeliveryError):
    """A transient failure; `retry_after` is the server's hint in seconds, if it gave one."""

    retryable = True

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


# --- shapes -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OutboundMessage:
    """Everything a client needs to send one reply, read from the database by the worker.

    `last_inbound_id` / `last_inbound_metadata` describe the customer's latest message in the
    conversation: replies go back the way the customer came (Telegram chat, Twilio number).
    """

    message_id: int
    conversation_id: int
    provider: str
    text: str
    sent_at: dt.datetime
    agent_id: int | None
    agent_name: str
    client_external_id: str
    secret: str
    config: Mapping[str, Any] = field(default_factory=dict)
    last_inbound_id: str | None = None
    last_inbound_metadata: Mapping[str, Any] = field(default_factory=dict)
    attachments: tuple[OutboundFile, ...] = ()
    # Requests of a multi-part send (one per file where the provider takes one file per
    # message) that an earlier attempt already got accepted: not sent again.
    parts_done: int = 0
    # Answers offered as buttons, (id, title): the satisfaction survey's 1-5 (chats/csat.py).
    # Providers with buttons send them (Telegram inline keyboard, WhatsApp interactive list);
    # the others send the text alone, which already says how to answer.
    quick_replies: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class OutboundFile:
    """An agent's file on a reply: its public signed URL (under PUBLIC_BASE_URL) for providers
    that fetch it themselves, and `open` for those that take an upload (Telegram)."""

    name: str
    content_type: str
    size: int
    url: str
    open: Callable[[], IO[bytes]]


@dataclass(frozen=True, kw_only=True)
class PreparedRequest:
    """One HTTP request, fully built. `sensitive` values are scrubbed from any error text.

    `stream`, when set, produces the body in chunks (a file upload) instead of `body`; the
    request then carries its exact Content-Length among `headers`.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    sensitive: tuple[str, ...] = ()
    stream: Callable[[], Iterator[bytes]] | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderResponse:
    status_code: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (a proxy's HTML error page)."""
        try:
            return msgspec.json.decode(self.body)
        except msgspec.DecodeError:
            return None


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message; its id is None only if its answer did not say."""

    provider_message_id: str | None
    status_code: int


@dataclass(frozen=True)
class ErrorDetails:
    """A provider's reading of its own error body, in our words.

    `reason` comes from the client's fixed vocabulary ("" when it knows none: the status
    decides), never from the body's text; `code` is the provider's numeric error code.
    `retryable` overrides the status-code rule when the provider knows better (WhatsApp's rate
    limits arrive as 400s); `retry_after` is a hint carried in the body (Telegram).
    """

    reason: str = ""
    code: int | None = None
    code_label: str = ""
    retryable: bool | None = None
    retry_after: float | None = None


class ProviderClient(Protocol):
    provider: str

    def prepare(self, message: OutboundMessage, *, now: float) -> PreparedRequest:
        """Build the send request; raise ConfigurationError if the channel cannot send.

        `now` is the unix time of this attempt (the generic signature covers it).
        """
        ...

    def message_id(self, message: OutboundMessage, response: ProviderResponse) -> str | None:
        """The provider's id for the message it just accepted (a 2xx answer)."""
        ...

    def error_details(self, response: ProviderResponse) -> ErrorDetails:
        """What went wrong, from a non-2xx answer."""
        ...


def prepare_parts(
    client: ProviderClient, message: OutboundMessage, *, now: float
) -> list[PreparedRequest]:
    """The requests that send `message`: one for text, or the client's own split when the
    message has files (`prepare_parts` of the client: one request per file for providers
    that take one file per message)."""
    split = getattr(client, "prepare_parts", None)
    if message.attachments and split is not None:
        parts: list[PreparedRequest] = split(message, now=now)
        return parts
    return [client.prepare(message, now=now)]


# --- helpers for the clients --------------------------------------------------------------------


def base_url(config: Mapping[str, Any], default: str) -> str:
    """`config["api_base_url"]` (tests and proxies point it elsewhere) or the public API."""
    value = config.get("api_base_url") or default
    if not isinstance(value, str) or urlsplit(value).scheme not in {"http", "https"}:
        raise ConfigurationError("The channel's api_base_url must be an http(s) URL.")
    return value.rstrip("/")


def required(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"The channel's config has no {key}.")
    return value.strip()


def address(external_id: str, prefix: str, provider: str) -> str:
    """The provider address inside a client id such as "telegram:12345"."""
    head, sep, rest = external_id.partition(":")
    if not sep or head != prefix or not rest:
        raise ConfigurationError(
            f"The client {external_id!r} has no {provider} address ({prefix}:<id>)."
        )
    return rest


def json_body(payload: Any) -> bytes:
    return msgspec.json.encode(payload)


def json_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(extra or {})
    return headers


def error_code(value: Any) -> int | None:
    """A provider's numeric error code, or None for anything that is not a plain number."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return value
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def redact(text: str, sensitive: Iterable[str]) -> str:
    for value in sensitive:
        if value:
            text = text.replace(value, "[redacted]")
    return text


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


# --- HTTP ---------------------------------------------------------------------------------------


# Fixed reasons for statuses, so an answer's body never has to speak for it.
STATUS_REASONS = {
    400: "bad request",
    401: "authentication refused",
    402: "payment required",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    408: "request timeout",
    409: "conflict",
    410: "gone",
    413: "request too large",
    415: "unsupported media type",
    422: "request refused",
    429: "rate limited",
    500: "server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


def status_reason(status: int) -> str:
    if status in STATUS_REASONS:
        return STATUS_REASONS[status]
    return "server error" if status >= 500 else "request refused"


@functools.cache
def http_client() -> httpx.Client:
    """One pooled client per process; httpx clients may be shared between worker threads.

    It connects only to checked addresses (`transport.GuardedTransport`). Redirects are not
    followed: a provider API does not redirect a POST, and following one would send the signed
    body or credentials to a host nobody checked or configured.
    """
    return httpx.Client(
        transport=GuardedTransport(),
        timeout=httpx.Timeout(TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def execute(
    http: httpx.Client, request: PreparedRequest, *, total_timeout: float = TOTAL_TIMEOUT
) -> ProviderResponse:
    """Run `request`: connect within 5 s and finish within `total_timeout` (15 s).

    httpx's timeouts apply per socket operation, so the overall budget is enforced here: each
    operation gets at most the whole budget and the body is read against the deadline.
    Transport failures become RetryableError; an unusable URL, ConfigurationError.
    """
    deadline = time.monotonic() + total_timeout
    timeout = httpx.Timeout(total_timeout, connect=min(CONNECT_TIMEOUT, total_timeout))
    try:
        with http.stream(
            request.method,
            request.url,
            headers=dict(request.headers),
            content=request.stream() if request.stream is not None else request.body,
            timeout=timeout,
        ) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= MAX_RESPONSE_BYTES:
                    break
                if time.monotonic() > deadline:
                    raise RetryableError(
                        f"Timed out: no complete answer within {total_timeout:g} s."
                    )
            return ProviderResponse(
                status_code=response.status_code,
                headers={k.lower(): v for k, v in response.headers.items()},
                body=bytes(body[:MAX_RESPONSE_BYTES]),
            )
    except httpx.TimeoutException as exc:
        raise RetryableError(f"Timed out ({type(exc).__name__}).") from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        reason = redact(str(exc), request.sensitive)
        raise ConfigurationError(_clip(f"Invalid provider URL: {reason}")) from None
    except httpx.TransportError as exc:
        refused = refused_reason(exc)
        if refused is not None:
            raise ConfigurationError(
                _clip(
                    f"Refused to connect to {refused.host}: {refused.reason} "
                    "(outbound calls reach public addresses only)."
                )
            ) from None
        raise RetryableError(f"Connection failed ({network_reason(exc)}).") from None


def deliver(
    client: ProviderClient,
    message: OutboundMessage,
    *,
    http: httpx.Client | None = None,
    now: float | None = None,
    on_part: Callable[[int], None] | None = None,
) -> SendResult:
    """Send one message through `client`; raise DeliveryError (final) or RetryableError.

    A message with files may take several requests (`prepare_parts`). After each accepted
    part but the last, `on_part(parts done)` records the progress, so a retry sends only what
    is left (`message.parts_done`) and the customer never gets a file twice.
    """
    requests = prepare_parts(client, message, now=time.time() if now is None else now)
    result: SendResult | None = None
    for index, request in enumerate(requests):
        if index < message.parts_done and index < len(requests) - 1:
            continue
        result = _send_part(client, message, request, http or http_client())
        if index < len(requests) - 1 and on_part is not None:
            on_part(index + 1)
    assert result is not None
    return result


def _send_part(
    client: ProviderClient, message: OutboundMessage, request: PreparedRequest, http: httpx.Client
) -> SendResult:
    timeout = UPLOAD_TIMEOUT if request.stream is not None else TOTAL_TIMEOUT
    response = execute(http, request, total_timeout=timeout)
    status = response.status_code
    if 200 <= status < 300:
        provider_id = client.message_id(message, response)
        if provider_id is None:
            # Accepted all the same: retrying would send the customer a second copy.
            logger.warning(
                "%s accepted message %s without an id we could read",
                client.provider,
                message.message_id,
            )
        return SendResult(provider_id, status)
    # For operators only (the log): the stored error below never repeats the body.
    logger.warning(
        "%s answered HTTP %s to message %s; body starts %r",
        client.provider,
        status,
        message.message_id,
        redact(response.body[:200].decode("utf-8", "replace"), request.sensitive),
    )
    raise failure(client, response, request.sensitive)


def failure(
    client: ProviderClient, response: ProviderResponse, sensitive: Iterable[str] = ()
) -> DeliveryError:
    """The error for a non-2xx answer: retryable for 408/429/5xx unless the provider says.

    Its text is the status, a reason from a fixed vocabulary and the provider's error code:
    nothing of the answer's body.
    """
    status = response.status_code
    if 300 <= status < 400:
        return DeliveryError(
            f"{client.provider} answered HTTP {status} (a redirect); not followed."
        )
    details = client.error_details(response)
    retryable = details.retryable
    if retryable is None:
        retryable = status in RETRYABLE_STATUSES or status >= 500
    text = f"{client.provider} answered HTTP {status}: {details.reason or status_reason(status)}"
    if details.code is not None:
        text += f" ({details.code_label or client.provider} error {details.code})"
    text = _clip(redact(text, sensitive))
    if retryable:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RetryableError(text, retry_after=retry_after or details.retry_after)
    return DeliveryError(text)


class _RedactTokensInURLs(logging.Filter):
    """httpx logs every request URL at INFO; Telegram's URL carries the bot token."""

    _BOT_TOKEN = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("/bot" in str(a) for a in record.args):
            record.args = tuple(
                self._BOT_TOKEN.sub("/bot[redacted]", str(a)) if "/bot" in str(a) else a
                for a in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactTokensInURLs())
