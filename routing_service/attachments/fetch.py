"""Inbound media: from the provider's reference to a stored file.

Each provider names a file its own way; `locate` turns the reference into one download
request, asking the provider's API first where it must:

* generic: the URL the sender gave;
* Twilio: the `MediaUrlN`, read with the account SID and auth token (HTTP basic); Twilio answers
  with a redirect to its CDN, followed with the credentials dropped (httpx strips them when the
  host changes);
* WhatsApp Cloud API: `GET <api_base_url>/<media id>` with the channel's token gives a short-lived
  `url`, downloaded with the same token;
* Telegram: `getFile?file_id=` gives a `file_path`, downloaded from `<base>/file/bot<token>/…`.

Every connection goes through the outbound SSRF guard (`outbound/transport.py`: public
addresses only, `OUTBOUND_ALLOWED_HOSTS` excepted, re-checked on every redirect hop) and the
body is streamed to storage (`storage.save_stream`), the size limit enforced while it streams.
Failures carry a short reason in our words — never the remote body, which could be anything a
sender's URL points at.
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import msgspec

from routing_service.attachments import rules, storage
from routing_service.attachments.models import Attachment, AttachmentSource
from routing_service.chats.models import Channel
from routing_service.outbound.clients.base import STATUS_REASONS, base_url
from routing_service.outbound.clients.telegram import DEFAULT_BASE_URL as TELEGRAM_BASE
from routing_service.outbound.clients.whatsapp import DEFAULT_BASE_URL as WHATSAPP_BASE
from routing_service.outbound.transport import GuardedTransport, network_reason, refused_reason

CONNECT_TIMEOUT = 5.0
# A whole download (25 MiB over a slow link); the look-up calls get the short budget.
DOWNLOAD_TIMEOUT = 120.0
LOOKUP_TIMEOUT = 15.0
MAX_LOOKUP_BYTES = 64 * 1024
MAX_REDIRECTS = 3
USER_AGENT = "Switchboard/1.0 (+attachment download)"


class FetchError(Exception):
    """The download failed; `retryable` for a network blip, 408/429/5xx."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class Request:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    sensitive: tuple[str, ...] = ()


@functools.cache
def http_client() -> httpx.Client:
    """Downloads follow a few redirects (Twilio → its CDN); each hop's address is vetted by
    the guarded transport, and httpx drops `Authorization` when the host changes."""
    return httpx.Client(
        transport=GuardedTransport(),
        timeout=httpx.Timeout(DOWNLOAD_TIMEOUT, connect=CONNECT_TIMEOUT),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
    )


# --- where the bytes are ----------------------------------------------------------------------


def locate(attachment: Attachment, channel: Channel) -> Request:
    """The download request for an inbound attachment (may call the provider's API)."""
    config: Mapping[str, Any] = channel.config or {}
    source = attachment.source
    if source == AttachmentSource.URL:
        return Request(attachment.source_ref)
    if source == AttachmentSource.TWILIO:
        account_sid = _config(config, "account_sid") or _account_of(attachment.source_ref)
        if not account_sid or not channel.secret:
            raise FetchError("The Twilio channel has no account SID or auth token.")
        credentials = base64.b64encode(f"{account_sid}:{channel.secret}".encode()).decode()
        return Request(
            attachment.source_ref,
            {"Authorization": f"Basic {credentials}"},
            (channel.secret, credentials),
        )
    if source == AttachmentSource.WHATSAPP:
        token = _config(config, "access_token")
        if not token:
            raise FetchError("The WhatsApp channel has no access_token.")
        base = _base(config, WHATSAPP_BASE)
        auth = {"Authorization": f"Bearer {token}"}
        info = _lookup(Request(f"{base}/{quote(attachment.source_ref, safe='')}", auth, (token,)))
        url = info.get("url") if isinstance(info, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise FetchError("WhatsApp gave no download URL for the media id.")
        return Request(url, auth, (token,))
    if source == AttachmentSource.TELEGRAM:
        token = _config(config, "bot_token")
        if not token or any(c in token for c in "/?#"):
            raise FetchError("The Telegram channel has no valid bot_token.")
        base = _base(config, TELEGRAM_BASE)
        query = urlencode({"file_id": attachment.source_ref})
        info = _lookup(Request(f"{base}/bot{token}/getFile?{query}", {}, (token,)))
        result = info.get("result") if isinstance(info, dict) else None
        path = result.get("file_path") if isinstance(result, dict) else None
        if not isinstance(path, str) or not path or ".." in path:
            raise FetchError("Telegram gave no file path for the file id.")
        return Request(f"{base}/file/bot{token}/{quote(path)}", {}, (token,))
    raise FetchError(f"No download for attachments from {source!r}.")


def _config(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    return value.strip() if isinstance(value, str) else ""


def _base(config: Mapping[str, Any], default: str) -> str:
    try:
        return base_url(config, default)
    except Exception as exc:  # ConfigurationError: a fixed, safe message
        raise FetchError(str(exc)) from None


def _account_of(media_url: str) -> str:
    """The account SID inside a Twilio media URL (`/2010-04-01/Accounts/<sid>/Messages/…`)."""
    parts = media_url.split("/Accounts/", 1)
    return parts[1].split("/", 1)[0] if len(parts) == 2 else ""


def _lookup(request: Request) -> Any:
    """A provider API call answering small JSON (media info, getFile)."""
    body = bytearray()
    with _stream(request, LOOKUP_TIMEOUT) as response:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_LOOKUP_BYTES:
                raise FetchError("The provider's media look-up answer is too large.")
    try:
        return msgspec.json.decode(bytes(body))
    except msgspec.DecodeError:
        raise FetchError("The provider's media look-up answer is not JSON.") from None


# --- the download -----------------------------------------------------------------------------


class _stream:
    """`http.stream(GET)` that turns a non-2xx answer and transport errors into FetchError."""

    def __init__(self, request: Request, timeout: float) -> None:
        self.request = request
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self._context: Any = None

    def __enter__(self) -> httpx.Response:
        try:
            self._context = http_client().stream(
                "GET",
                self.request.url,
                headers=dict(self.request.headers),
                timeout=httpx.Timeout(self.timeout, connect=CONNECT_TIMEOUT),
            )
            response: httpx.Response = self._context.__enter__()
        except Exception as exc:
            raise _transport_error(exc) from None
        status = response.status_code
        if not 200 <= status < 300:
            self._context.__exit__(None, None, None)
            retryable = status in (408, 429) or status >= 500
            reason = STATUS_REASONS.get(status, "server error" if status >= 500 else "refused")
            raise FetchError(
                f"The file's server answered HTTP {status} ({reason}).", retryable=retryable
            )
        return response

    def __exit__(self, *exc: object) -> None:
        if self._context is not None:
            self._context.__exit__(*exc)


def _transport_error(exc: BaseException) -> FetchError:
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, httpx.TooManyRedirects):
        return FetchError("The file's server redirected too often.")
    if isinstance(exc, httpx.TimeoutException):
        return FetchError("The download timed out.", retryable=True)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FetchError("The file's URL is not a valid http(s) URL.")
    if isinstance(exc, httpx.TransportError):
        refused = refused_reason(exc)
        if refused is not None:
            return FetchError(
                f"Refused to connect to {refused.host}: {refused.reason} "
                "(downloads reach public addresses only)."
            )
        return FetchError(f"The download failed ({network_reason(exc)}).", retryable=True)
    raise exc


def download(
    request: Request, limits: rules.Limits, company_id: int, declared_type: str
) -> storage.Stored:
    """Stream the file at `request` into storage; FetchError or rules.Refused on failure."""
    with _stream(request, DOWNLOAD_TIMEOUT) as response:
        length = response.headers.get("content-length", "")
        if length.isdigit():
            rules.check_size(int(length), limits)  # refused before a byte is read
        deadline = time.monotonic() + DOWNLOAD_TIMEOUT

        def chunks() -> Iterator[bytes]:
            try:
                for chunk in response.iter_bytes(storage.CHUNK_BYTES):
                    if time.monotonic() > deadline:
                        raise FetchError("The download timed out.", retryable=True)
                    yield chunk
            except httpx.HTTPError as exc:
                raise _transport_error(exc) from None

        return storage.save_stream(company_id, chunks(), limits, declared_type=declared_type)
