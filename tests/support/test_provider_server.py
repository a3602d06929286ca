"""The local provider server other tests rely on: recording, failure injection, answers."""

from __future__ import annotations

import httpx

from tests.support.provider_server import ProviderServer, Reply


def test_it_records_requests_and_answers_like_the_provider_called() -> None:
    with ProviderServer() as server:
        twilio = httpx.post(
            f"{server.url}/2010-04-01/Accounts/AC1/Messages.json?x=1",
            data={"To": "+1", "Body": "hi"},
            headers={"X-Test": "yes"},
        )
        telegram = httpx.post(f"{server.url}/bot1:A/sendMessage", json={"chat_id": 5, "text": "t"})

        first, second = server.requests
    assert twilio.status_code == 201 and twilio.json()["sid"].startswith("SM")
    assert telegram.json() == {"ok": True, "result": {"message_id": 2, "chat": {"id": 5}}}
    assert (first.method, first.route, first.path) == (
        "POST",
        "/2010-04-01/Accounts/AC1/Messages.json",
        "/2010-04-01/Accounts/AC1/Messages.json?x=1",
    )
    assert first.header("X-Test") == "yes"
    assert first.form() == {"To": "+1", "Body": "hi"}
    assert second.json() == {"chat_id": 5, "text": "t"}


def test_it_fails_the_next_requests_then_recovers() -> None:
    with ProviderServer() as server:
        server.fail_next(1, status=429, retry_after=3)
        server.fail_next(1)
        answers = [httpx.post(f"{server.url}/hook", json={}) for _ in range(3)]
        server.wait_for_requests(3, timeout=1)

    assert [a.status_code for a in answers] == [429, 500, 200]
    assert answers[0].headers["Retry-After"] == "3"


def test_a_custom_handler_and_reset() -> None:
    with ProviderServer() as server:
        server.respond_with(lambda req: Reply(202, {"echo": req.route}))
        assert httpx.get(f"{server.url}/ping").json() == {"echo": "/ping"}
        server.reset()
        assert server.requests == []
        assert httpx.get(f"{server.url}/ping").json() == {"ok": True}
