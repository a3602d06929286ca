"""scripts/capacity: the arithmetic of the sizing model, checked by hand-computed cases."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "capacity"


@pytest.fixture(scope="module")
def capacity() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("capacity_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader("capacity_script", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["capacity_script"] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


def test_peak_of_a_raised_cosine_day(capacity: ModuleType) -> None:
    assert capacity.peak_factor(1) == 1  # a flat day
    assert capacity.peak_factor(20) == pytest.approx(40 / 21)
    with pytest.raises(ValueError):
        capacity.peak_factor(0.5)


def test_processes_round_up_at_the_target_utilisation(capacity: ModuleType) -> None:
    assert capacity.processes(1.2e6, 0.6) == 2  # exactly two cores' worth
    assert capacity.processes(1.2e6 + 1, 0.6) == 3
    assert capacity.processes(0, 0.6) == capacity.MIN_PROCESSES


def test_plan_by_hand(capacity: ModuleType) -> None:
    costs = capacity.Costs(
        web_us_per_webhook=100,
        router_us_per_message=500,
        reply_us_per_message=200,
        pg_us_per_message=100,
        redis_us_per_message=50,
        bytes_per_socket=50_000,
        pg_rows_per_chat=10,
        pg_bytes_per_chat=10_000,
        pg_indexes_per_row=4,
        log_entry_bytes=500,
    )
    load = capacity.Load(
        companies=100,
        agents=1_000,
        messages_per_day=86_400 * 1_000,
        trough_ratio=1,
        inbound_share=0.5,
        messages_per_chat=5,
        retention_days=10,
        sockets_per_agent=1,
        log_entries_per_message=2,
        largest_company_share=0.1,
    )
    deployment = capacity.Deployment(
        utilisation=0.5,
        sockets_per_process=10_000,
        process_memory_bytes=1e9,
        redis_shard_memory_bytes=1e12,
        event_log_maxlen=1_000,
        pg_cores=10,
        pg_iops=10_000,
        pg_disk_bytes=1e15,
    )
    p = capacity.plan(load, costs, deployment)
    assert p.peak_messages_per_s == pytest.approx(1_000)  # flat day: peak = mean
    # web: 500 webhooks × 100 µs + 500 replies × 200 µs = 0.15 s/s → at 50 %: 1 → minimum 2
    assert p.web_processes == 2
    # router: 500 × 500 µs = 0.25 s/s → 1 at 50 % → minimum 2
    assert p.router_processes == 2
    # sockets: 1,000 at min(10,000, 1e9 × 0.5 / 50,000 = 10,000) per process → 2 (minimum)
    assert p.sockets == 1_000 and p.websocket_processes == 2
    # logs: 2 entries/msg, half to 200 company groups (432,000/group/day → capped at 1,000),
    # half to 1,000 agents (86,400/agent/day → capped) → 1,200 × 1,000 × 500 B
    assert p.redis_memory_bytes == pytest.approx(1_200 * 1_000 * 500)
    assert p.redis_primaries == 3  # the minimum of a cluster
    # PostgreSQL: 200 chats/s × 86,400 × 10 days; rows × 10, bytes × 10,000
    chats = 1_000 / 5 * 86_400 * 10
    assert p.pg_rows == pytest.approx(chats * 10)
    assert p.pg_bytes == pytest.approx(chats * 10_000)
    # IOPS: 1,000 msg/s × 2 rows/msg × (1 + 4 indexes)
    assert p.pg_write_iops == pytest.approx(10_000)
    assert p.limits["PostgreSQL write IOPS"] == pytest.approx(1.0)
    assert p.limits["PostgreSQL primary CPU"] == pytest.approx(1_000 * 100e-6 / 5)
    # The largest company: 100 msg/s, 50 inbound × 500 µs at 50 % = 5 %.
    assert p.limits["router of the largest company's shard"] == pytest.approx(0.05)
    assert p.first_limit == "PostgreSQL write IOPS" and p.headroom_multiple == pytest.approx(1)


def test_router_run_prediction(capacity: ModuleType) -> None:
    costs = capacity.Costs(
        router_us_per_message=400, pg_us_per_message=150, redis_us_per_message=50
    )
    one = capacity.predict_router_run(10_000, 1, 4, costs)
    assert one["messages_per_s"] == pytest.approx(2_500)  # one single-threaded router
    assert one["router_cpu_s"] == pytest.approx(4) and one["datastore_cpu_s"] == pytest.approx(2)
    # Two routers on 2 cores: the machine (600 µs of CPU per message) is the bound.
    two = capacity.predict_router_run(10_000, 2, 2, costs)
    assert two["messages_per_s"] == pytest.approx(2e6 / 600)
    assert math.isclose(two["seconds"], 10_000 / two["messages_per_s"])


def test_command_line_prints_the_first_limit(
    capacity: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert capacity.main(["--companies", "10000", "--agents", "200000"]) == 0
    out = capsys.readouterr().out
    assert "first limit:" in out and "Redis Cluster:" in out
    assert capacity.main(["--agents", "0"]) == 2
