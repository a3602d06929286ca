"""realtime.protocol and realtime.auth's origin check: the rules of client frames, as values."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from realtime.auth import origin_allowed, site_origin
from realtime.protocol import AGENT_ACTIONS, FrameError, TokenBucket, frame_too_big, parse_action


def frame(**fields: object) -> str:
    return json.dumps(fields)


def test_chat_action_names_its_conversation() -> None:
    request = parse_action(
        frame(action="accept", request_id="a1", conversation_id=7), AGENT_ACTIONS
    )
    assert (request.action, request.request_id, request.conversation_id) == ("accept", "a1", 7)


def test_numeric_string_ids_are_accepted() -> None:
    request = parse_action(
        frame(action="resolve", request_id=5, conversation_id="12"), AGENT_ACTIONS
    )
    assert request.conversation_id == 12
    assert request.request_id == 5


@pytest.mark.parametrize(
    ("text", "code", "field"),
    [
        pytest.param("not json", "bad_frame", None, id="not-json"),
        pytest.param("[1, 2]", "bad_frame", None, id="not-an-object"),
        pytest.param(frame(action="ping"), "invalid", "request_id", id="no-request-id"),
        pytest.param(frame(action="ping", request_id=True), "invalid", "request_id", id="bool-id"),
        pytest.param(frame(action="ping", request_id=""), "invalid", "request_id", id="empty-id"),
        pytest.param(frame(action="fly", request_id="x"), "unknown_action", "action", id="unknown"),
        pytest.param(frame(request_id="x"), "unknown_action", "action", id="no-action"),
        pytest.param(
            frame(action="accept", request_id="x"), "invalid", "conversation_id", id="no-chat"
        ),
        pytest.param(
            frame(action="accept", request_id="x", conversation_id=-3),
            "invalid",
            "conversation_id",
            id="negative-chat",
        ),
        pytest.param(
            frame(action="reply", request_id="x", conversation_id=1, text="  "),
            "invalid",
            "text",
            id="blank-reply",
        ),
        pytest.param(
            frame(action="escalate", request_id="x", conversation_id=1),
            "invalid",
            "reason",
            id="escalate-without-reason",
        ),
        pytest.param(
            frame(action="transfer", request_id="x", conversation_id=1, reason="r"),
            "invalid",
            "to_agent_id",
            id="transfer-nowhere",
        ),
        pytest.param(
            frame(
                action="transfer", request_id="x", conversation_id=1, to_agent_id=2, to_queue=True
            ),
            "invalid",
            "to_agent_id",
            id="transfer-both",
        ),
        pytest.param(
            frame(action="set_status", request_id="x", status=3), "invalid", "status", id="status"
        ),
    ],
)
def test_malformed_frames_name_their_fault(text: str, code: str, field: str | None) -> None:
    with pytest.raises(FrameError) as caught:
        parse_action(text, AGENT_ACTIONS)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_errors_keep_the_request_id_once_known() -> None:
    with pytest.raises(FrameError) as caught:
        parse_action(frame(action="accept", request_id="keep-me"), AGENT_ACTIONS)
    assert caught.value.request_id == "keep-me"


def test_wallboard_accepts_only_ping() -> None:
    with pytest.raises(FrameError) as caught:
        parse_action(frame(action="accept", request_id="x", conversation_id=1), frozenset({"ping"}))
    assert caught.value.code == "unknown_action"


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=20, burst=40)
    start = bucket.stamp
    assert all(bucket.take(start) for _ in range(40))
    assert not bucket.take(start)
    assert bucket.take(start + 0.051)  # one token back after 1/20 s
    assert not bucket.take(start + 0.051)


def test_frame_size_counts_utf8_bytes() -> None:
    assert not frame_too_big("a" * 1024, None, 1024)
    assert frame_too_big("a" * 1025, None, 1024)
    assert frame_too_big("é" * 600, None, 1024)  # 1,200 bytes
    assert frame_too_big(None, b"x" * 1025, 1024)


SITE = "https://console.example.com"


@override_settings(CSRF_TRUSTED_ORIGINS=["https://app.example.net", "https://*.partner.example"])
@pytest.mark.parametrize(
    ("origin", "site", "allowed"),
    [
        (None, SITE, True),  # not a browser
        ("https://console.example.com", SITE, True),
        ("https://console.example.com:443", SITE, True),  # the default port, spelled out
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000", True),
        ("http://[::1]:8000", "http://[::1]:8000", True),
        ("http://127.0.0.1:6666", "http://127.0.0.1:8000", False),  # another port
        ("https://127.0.0.1", "http://127.0.0.1:8000", False),  # another scheme and port
        ("https://127.0.0.1:8000", "http://127.0.0.1:8000", False),  # another scheme
        ("http://127.0.0.1", "http://127.0.0.1:8000", False),
        ("http://console.example.com", SITE, False),
        ("https://console.example.com:8443", SITE, False),
        ("https://wall.example.com", SITE, False),  # same domain is not the same origin
        ("https://app.example.net", SITE, True),  # trusted
        ("https://eu.partner.example", SITE, True),  # trusted, wildcard
        ("https://app.example.net:8443", SITE, False),  # trusted names the default port
        ("http://app.example.net", SITE, False),  # trusted only over https
        ("https://app.example.net", None, True),  # no usable Host: trusted origins still are
        ("https://console.example.com", None, False),
        ("https://evil.example", SITE, False),
        ("https://console.example.com.evil.example", SITE, False),
        ("null", SITE, False),
        ("https://console.example.com:99999", SITE, False),
        ("file:///etc/passwd", SITE, False),
    ],
)
def test_origin_must_be_the_sites_own_or_a_trusted_one(
    origin: str | None, site: str | None, allowed: bool
) -> None:
    assert origin_allowed(origin, site) is allowed


def scope(scheme: str | None, *headers: tuple[str, str]) -> dict[str, object]:
    found: dict[str, object] = {
        "type": "websocket",
        "headers": [(k.encode(), v.encode()) for k, v in headers],
        "server": ("10.0.0.5", 8000),
    }
    if scheme is not None:
        found["scheme"] = scheme
    return found


@override_settings(ALLOWED_HOSTS=["console.example.com", "127.0.0.1"])
@pytest.mark.parametrize(
    ("ws_scope", "expected"),
    [
        (scope("ws", ("host", "127.0.0.1:8000")), "http://127.0.0.1:8000"),
        (scope(None, ("host", "127.0.0.1:8000")), "http://127.0.0.1:8000"),  # ASGI default: ws
        (scope("wss", ("host", "console.example.com")), "https://console.example.com"),
        (scope("ws", ("host", "evil.example")), None),  # not in ALLOWED_HOSTS
        (scope("ws", ("host", "console.example.com:bad")), None),
        (scope("ws", ("x-forwarded-host", "console.example.com")), None),  # not trusted
    ],
)
def test_site_origin_is_the_scheme_and_host_the_socket_came_to(
    ws_scope: dict[str, object], expected: str | None
) -> None:
    assert site_origin(ws_scope) == expected


@override_settings(
    ALLOWED_HOSTS=["console.example.com"],
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    USE_X_FORWARDED_HOST=True,
)
def test_site_origin_behind_a_trusted_proxy_reads_its_headers_as_django_does() -> None:
    proxied = scope(
        "ws",
        ("host", "10.0.0.5:8000"),
        ("x-forwarded-host", "console.example.com"),
        ("x-forwarded-proto", "https"),
    )
    assert site_origin(proxied) == "https://console.example.com"
