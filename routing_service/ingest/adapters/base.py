"""① Webhook ingestion: the provider-neutral shapes and helpers every adapter shares.

Adapters are pure functions of a `WebhookRequest` (bytes and headers the ASGI handler already
read) and the channel's secrets. They return normalised `InboundMessage`s / `StatusEvent`s or
raise a `WebhookError` subclass that the handler maps to an HTTP status. No Django, no ORM, no
I/O, no shared mutable state: the handler calls them on the event loop, or on a worker thread
for large bodies, before appending to the inbound stream.
`verify` runs before anything parses the body where the provider's scheme allows it (a MAC over
the raw bytes, a secret header); where it does not (Twilio signs the parsed fields), it bounds
the parsing first.
"""

import hmac
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

import msgspec

T = TypeVar("T")

PRIORITIES: tuple[str, ...] = ("low", "medium", "high", "urgent")
NON_FIELD_ERRORS = "non_field_errors"  # same key DRF uses, so every 400 in the API looks alike
REQUIRED = "This field is required."
JSON_CONTENT_TYPES: frozenset[str] = frozenset({"application/json"})
FORM_CONTENT_TYPES: frozenset[str] = frozenset({"application/x-www-form-urlencoded"})


# --- errors -------------------------------------------------------------------------------------


class WebhookError(Exception):
    """Base of everything an adapter raises on purpose; `status_code` is the HTTP answer."""

    status_code: int = 400


class SignatureError(WebhookError):
    """The request cannot be shown to come from the provider.

    401 when the credential is missing, 403 when it is present but wrong, malformed or stale.
    `reason` is safe to return to the caller: it never contains a secret or expected value.
    """

    def __init__(self, reason: str, *, status_code: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class PayloadError(WebhookError):
    """Authentic but malformed body; `errors` maps field paths ("client.id") to messages."""

    status_code = 400

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class UnsupportedMediaType(WebhookError):
    status_code = 415

    def __init__(self, content_type: str, expected: Iterable[str]) -> None:
        self.content_type = content_type
        self.expected = tuple(sorted(expected))
        super().__init__(
            f"Unsupported content type {content_type or '(none)'!r}; "
            f"expected {' or '.join(self.expected)} (UTF-8)."
        )


# --- shapes -------------------------------------------------------------------------------------


class MediaRef(msgspec.Struct, frozen=True, kw_only=True):
    """A file the customer sent, as the provider names it: not downloaded here (the webhook
    answers fast) nor by the router, but by the attachments worker.

    `source` says how to fetch `ref`: "url" (generic), "twilio" (a media URL read with the
    account's credentials), "whatsapp" (a Cloud API media id), "telegram" (a Bot API file id).
    `content_type`, `name` and `size` are the sender's claims; the worker sniffs and measures.
    """

    source: str
    ref: str
    content_type: str = ""
    name: str = ""
    size: int | None = None


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    """The one normalised shape every provider produces; it is what goes into the stream.

    `client_external_id` is unique per company: provider-prefixed ("telegram:12345") except for
    the generic provider, whose sender chose the id. `sent_at` is always aware UTC.
    """

    provider: str
    provider_message_id: str
    client_external_id: str
    client_name: str
    client_email: str | None = None
    client_phone: str | None = None
    text: str
    sent_at: datetime
    priority: str | None = None
    language: str | None = None
    category: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    # Entries written before attachments existed decode with none.
    attachments: list[MediaRef] = msgspec.field(default_factory=list)


class StatusEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A receipt or edit about a message we already know (sent|delivered|read|failed|edited...)."""

    provider: str
    provider_message_id: str
    status: str
    at: datetime | None = None
    raw: dict[str, Any] = msgspec.field(default_factory=dict)


class TypingSignal(msgspec.Struct, frozen=True, kw_only=True):
    """The customer started (or stopped) typing: live-only, never stored as a message
    (routing_service/chats/actions/typing.py). Only the generic provider reports it."""

    provider: str
    client_external_id: str
    typing: bool = True


class WebhookRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What the handler read from the wire.

    `url` must be the absolute URL as the provider called it (scheme and host as seen behind the
    proxy), because Twilio signs it. `headers` keys are lower-case. `received_at` is used as the
    send time by providers that do not send one (Twilio); it defaults to the parse time.
    """

    method: str
    url: str
    headers: Mapping[str, str] = msgspec.field(default_factory=dict)
    query: Mapping[str, str] = msgspec.field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""
    received_at: datetime | None = None


class ChannelSecrets(msgspec.Struct, frozen=True, kw_only=True):
    """A channel's credentials; `previous_secret` keeps working during a rotation."""

    secret: str
    previous_secret: str | None = None
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class ParseResult(msgspec.Struct, frozen=True, kw_only=True):
    """`response` is the provider-specific success answer (status, content type, body), if any."""

    messages: list[InboundMessage] = msgspec.field(default_factory=list)
    statuses: list[StatusEvent] = msgspec.field(default_factory=list)
    typing: list[TypingSignal] = msgspec.field(default_factory=list)
    response: tuple[int, str, bytes] | None = None


class Adapter(Protocol):
    provider: str
    content_types: frozenset[str]
    # The largest body the provider sends, when it is smaller than the channel's limit: a
    # larger one is refused (413) before it is read, let alone parsed.
    max_body_bytes: int | None

    def verify(self, req: WebhookRequest, secrets: ChannelSecrets, now: float) -> None:
        """Raise UnsupportedMediaType / SignatureError unless the request is authentic.

        `now` is the server's unix time (only the generic provider's replay window uses it).
        """
        ...

    def verify_headers(self, req: WebhookRequest, secrets: ChannelSecrets, now: float) -> None:
        """The part of `verify` that needs no body, called before the body is read: a request
        with missing, malformed or stale credentials (or, for Telegram, wrong ones) is refused
        without reading its body. `verify` repeats these checks."""
        ...

    def parse(self, req: WebhookRequest) -> ParseResult:
        """Normalise a verified request; raise PayloadError / UnsupportedMediaType."""
        ...


@runtime_checkable
class HandshakeAdapter(Adapter, Protocol):
    """Providers that verify the endpoint with a GET before sending (WhatsApp)."""

    def handshake(self, req: WebhookRequest, secrets: ChannelSecrets) -> bytes:
        """Return the body to answer the GET with (text/plain), or raise SignatureError."""
        ...


# --- helpers shared by the adapters --------------------------------------------------------------


def require_media_type(req: WebhookRequest, allowed: frozenset[str]) -> None:
    """Accept `allowed` media types with no charset or a UTF-8 one (all providers send UTF-8)."""
    raw = req.content_type or req.headers.get("content-type", "")
    media, _, params = raw.partition(";")
    if media.strip().lower() not in allowed:
        raise UnsupportedMediaType(raw, allowed)
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in {
            "utf-8",
            "utf8",
        }:
            raise UnsupportedMediaType(raw, allowed)


def signing_keys(secrets: ChannelSecrets) -> list[bytes]:
    """The current secret, then the previous one; refuse a channel without a secret.

    An empty key would make every forged request "authentic", so it is a configuration error,
    not a pass.
    """
    if not secrets.secret:
        raise SignatureError("The channel has no secret configured.")
    keys = [secrets.secret.encode()]
    if secrets.previous_secret:
        keys.append(secrets.previous_secret.encode())
    return keys


def matches_any(provided: Iterable[bytes], expected: Iterable[bytes]) -> bool:
    """Constant-time membership: every pair is compared, no early exit on a match."""
    expected = list(expected)
    matched = False
    for candidate in provided:
        for value in expected:
            matched |= hmac.compare_digest(candidate, value)
    return matched


def to_bytes(value: str) -> bytes:
    """Header values are arbitrary text; compare_digest on str refuses non-ASCII."""
    return value.encode("utf-8", "surrogatepass")


def unix_to_utc(value: int | str, path: str) -> datetime:
    """Provider timestamps are unix seconds, as int or digit string."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise PayloadError({path: ["Not a unix timestamp."]})
        value = int(value)
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise PayloadError({path: ["Not a unix timestamp."]}) from None


def parse_iso_datetime(value: str) -> datetime | None:
    """ISO 8601 date-time -> aware UTC (naive means UTC); None if it is not one.

    A bare date is refused: a message's send time needs a time of day.
    """
    if "T" not in value and " " not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def decode_json(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise PayloadError({NON_FIELD_ERRORS: [f"Invalid JSON: {exc}."]}) from None


def convert(obj: Any, tp: type[T], path: str = "") -> T:
    """Validate decoded JSON against a Struct; on failure report every bad field under `path`."""
    try:
        return msgspec.convert(obj, tp)
    except msgspec.ValidationError:
        raise PayloadError(collect_errors(obj, tp, path)) from None


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def collect_errors(obj: Any, tp: Any, path: str = "") -> dict[str, list[str]]:
    """Walk a Struct type field by field so a 400 lists all bad fields, not only the first.

    msgspec stops at the first error; this slow path only runs once validation has failed.
    """
    errors: dict[str, list[str]] = {}
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if not isinstance(obj, dict):
            errors[path or NON_FIELD_ERRORS] = [f"Expected an object, got {_kind_of(obj)}."]
            return errors
        for field in msgspec.structs.fields(tp):
            sub = join_path(path, field.encode_name)
            if field.encode_name not in obj:
                if field.required:
                    errors[sub] = [REQUIRED]
                continue
            errors.update(collect_errors(obj[field.encode_name], field.type, sub))
        return errors
    try:
        msgspec.convert(obj, tp)
    except msgspec.ValidationError as exc:
        key, message = _translate(str(exc), path)
        errors[key] = [message]
    return errors


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MIN_LEN = re.compile(r"Expected `str` of length >= (\d+)")
_MAX_LEN = re.compile(r"Expected `str` of length <= (\d+)")
_EXPECTED = re.compile(r"Expected `([^`]*)`, got `([^`]*)`")
_KINDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def _kind_of(obj: Any) -> str:
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    if isinstance(obj, int):
        return "an integer"
    if isinstance(obj, float):
        return "a number"
    if isinstance(obj, str):
        return "a string"
    if isinstance(obj, list):
        return "an array"
    return "an object"


def _translate(raw: str, base: str) -> tuple[str, str]:
    """Turn a msgspec message + `$.a[0].b` location into a (field path, human message) pair."""
    path = base
    if at := _AT.search(raw):
        rel = at["path"]
        path = base + rel if base else rel.lstrip(".")
        raw = raw[: at.start()]
    if raw.startswith("Object missing required field `"):
        return join_path(path, raw.split("`")[1]), REQUIRED
    if m := _MIN_LEN.match(raw):
        n = int(m[1])
        text = (
            "This field may not be blank."
            if n == 1
            else f"Ensure this field has at least {n} characters."
        )
        return path or NON_FIELD_ERRORS, text
    if m := _MAX_LEN.match(raw):
        return path or NON_FIELD_ERRORS, f"Ensure this field has no more than {m[1]} characters."
    if m := _EXPECTED.match(raw):
        want = " or ".join(_KINDS.get(part, part) for part in m[1].split(" | "))
        return path or NON_FIELD_ERRORS, f"Expected {want}, got {_KINDS.get(m[2], m[2])}."
    return path or NON_FIELD_ERRORS, raw.rstrip(".") + "."


# --- running an adapter where exceptions cannot travel ----------------------------------------


class Refusal(msgspec.Struct, frozen=True):
    """An adapter's refusal as plain data: the HTTP status and JSON body to answer with.

    What `authenticate`/`parse_request` return instead of raising, because they may run in
    another process and WebhookError subclasses do not survive pickling with their fields.
    """

    status_code: int
    body: dict[str, Any]


MALFORMED = Refusal(400, {"errors": {NON_FIELD_ERRORS: ["Malformed payload."]}})


def refusal(exc: WebhookError) -> Refusal:
    if isinstance(exc, PayloadError):
        return Refusal(exc.status_code, {"errors": exc.errors})
    if isinstance(exc, SignatureError):
        return Refusal(exc.status_code, {"detail": exc.reason})
    return Refusal(exc.status_code, {"detail": str(exc)})
