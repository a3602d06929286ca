"""realtime.batching: calls of sockets connecting together are made as one, each keeps its own
answer (or error)."""

from __future__ import annotations

import asyncio

import pytest
import redis
from django.conf import settings

from realtime.batching import Coalescer, run_script
from realtime.connections import async_client


async def test_calls_arriving_together_are_one_fetch_with_answers_in_order() -> None:
    batches: list[list[int]] = []

    async def fetch(keys: list[int]) -> list[int]:
        batches.append(keys)
        return [k * 10 for k in keys]

    square = Coalescer(fetch)
    answers = await asyncio.gather(*(square(k) for k in [3, 1, 3, 2]))
    assert answers == [30, 10, 30, 20]
    assert batches == [[3, 1, 3, 2]]  # a repeated key is asked (and answered) twice


async def test_calls_during_a_fetch_go_in_the_next_batch() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def fetch(keys: list[int]) -> list[int]:
        batches.append(keys)
        if len(batches) == 1:
            await release.wait()
        return keys

    echo = Coalescer(fetch)
    first = asyncio.ensure_future(echo(1))
    await asyncio.sleep(0.01)
    later = [asyncio.ensure_future(echo(n)) for n in (2, 3)]
    await asyncio.sleep(0.01)
    release.set()
    assert await first == 1
    assert [await f for f in later] == [2, 3]
    assert batches == [[1], [2, 3]]


async def test_a_failed_fetch_fails_its_batch_only() -> None:
    calls = 0

    async def fetch(keys: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return keys

    echo = Coalescer(fetch)
    results = await asyncio.gather(echo(1), echo(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await echo(3) == 3


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    release = asyncio.Event()

    async def fetch(keys: list[int]) -> list[int]:
        await release.wait()
        return keys

    echo = Coalescer(fetch)
    gone = asyncio.ensure_future(echo(1))
    kept = asyncio.ensure_future(echo(2))
    await asyncio.sleep(0.01)
    gone.cancel()
    release.set()
    assert await kept == 2
    assert gone.cancelled()


async def test_scripts_of_many_callers_share_a_pipeline_and_keep_their_own_errors(
    redis_client: redis.Redis,
) -> None:
    client = async_client(settings.REDIS_URL)
    prefix = f"{settings.REDIS_KEY_PREFIX}:batching-test"
    incr = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
    await client.set(f"{prefix}:text", "not a number")
    results = await asyncio.gather(
        *(run_script(client, incr, [f"{prefix}:n"], [1]) for _ in range(50)),
        run_script(client, incr, [f"{prefix}:text"], [1]),
        return_exceptions=True,
    )
    assert sorted(results[:50]) == list(range(1, 51))  # type: ignore[type-var]
    assert isinstance(results[50], redis.ResponseError)
    await client.delete(f"{prefix}:n", f"{prefix}:text")


@pytest.mark.parametrize("count", [1, 300])
async def test_batches_are_bounded_but_every_call_is_answered(count: int) -> None:
    sizes: list[int] = []

    async def fetch(keys: list[int]) -> list[int]:
        sizes.append(len(keys))
        return keys

    echo = Coalescer(fetch)
    assert await asyncio.gather(*(echo(n) for n in range(count))) == list(range(count))
    assert max(sizes) <= 256
