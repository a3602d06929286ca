"""Erlang C (analytics.erlang) against the published worked example, and its properties.

The example (the standard one of contact-centre planning, e.g. Call Centre Helper's Erlang C
walk-through): 100 contacts in 30 minutes with an average handle time of 180 s are
10 Erlangs; the target is 80 % answered within 20 s; 14 agents reach it (88.8 %, 17.4 % of
contacts wait, 7.8 s on average) and 13 fall just under (79.6 %, 17.1 s).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics import erlang

TRAFFIC = erlang.traffic_intensity(100, 30 * 60, 180)


def test_the_worked_example_is_ten_erlangs() -> None:
    assert TRAFFIC == 10.0


def test_fourteen_agents_reach_80_percent_in_20_seconds() -> None:
    assert erlang.servers_needed(TRAFFIC, 180, 20, 0.8) == 14
    assert erlang.service_level(14, TRAFFIC, 180, 20) == pytest.approx(0.8884, abs=5e-4)
    assert erlang.probability_of_waiting(14, TRAFFIC) == pytest.approx(0.1741, abs=5e-4)
    assert erlang.average_speed_of_answer(14, TRAFFIC, 180) == pytest.approx(7.84, abs=0.01)


def test_thirteen_agents_fall_just_under() -> None:
    level = erlang.service_level(13, TRAFFIC, 180, 20)
    assert 0.79 < level < 0.8
    assert level == pytest.approx(0.7956, abs=5e-4)
    assert erlang.probability_of_waiting(13, TRAFFIC) == pytest.approx(0.2853, abs=5e-4)
    assert erlang.average_speed_of_answer(13, TRAFFIC, 180) == pytest.approx(17.12, abs=0.01)


def test_erlang_b_of_the_textbook() -> None:
    """Erlang B(5 servers, 3 Erlangs) = 0.1101 (any Erlang B table)."""
    assert erlang.erlang_b(5, 3.0) == pytest.approx(0.11005, abs=1e-5)
    assert erlang.erlang_b(0, 3.0) == 1.0


def test_too_few_agents_can_never_keep_up() -> None:
    assert erlang.probability_of_waiting(10, TRAFFIC) == 1.0
    assert erlang.service_level(9, TRAFFIC, 180, 20) == 0.0
    assert erlang.average_speed_of_answer(10, TRAFFIC, 180) == math.inf


def test_no_traffic_needs_nobody_and_nobody_waits() -> None:
    assert erlang.servers_needed(0.0, 180, 20, 0.8) == 0
    assert erlang.probability_of_waiting(0, 0.0) == 0.0
    assert erlang.service_level(0, 0.0, 180, 20) == 1.0
    assert erlang.average_speed_of_answer(3, 0.0, 180) == 0.0


def test_hundreds_of_agents_stay_finite_and_exact() -> None:
    """No factorial overflow: 900 Erlangs (a large centre) on ~ 900+ servers."""
    needed = erlang.servers_needed(900.0, 180, 20, 0.8)
    assert needed is not None and 900 < needed < 960
    below = erlang.service_level(needed - 1, 900.0, 180, 20)
    at = erlang.service_level(needed, 900.0, 180, 20)
    assert below < 0.8 <= at
    assert 0 < erlang.probability_of_waiting(5_000, 4_800.0) < 1
    assert math.isfinite(erlang.average_speed_of_answer(20_000, 19_500.0, 300))


def _erlang_c_in_log_space(servers: int, traffic: float) -> float:
    """Erlang C from its textbook formula, every term as a logarithm (an independent check:
    no recursion shared with the code under test)."""
    terms = [k * math.log(traffic) - math.lgamma(k + 1) for k in range(servers)]
    top = (
        servers * math.log(traffic)
        - math.lgamma(servers + 1)
        + math.log(servers / (servers - traffic))
    )
    peak = max([*terms, top])
    return math.exp(top - peak) / (sum(math.exp(t - peak) for t in terms) + math.exp(top - peak))


@pytest.mark.parametrize(("servers", "traffic"), [(14, 10.0), (1_000, 950.0), (1_000, 990.0)])
def test_a_thousand_agents_agree_with_the_formula_in_log_space(
    servers: int, traffic: float
) -> None:
    assert erlang.probability_of_waiting(servers, traffic) == pytest.approx(
        _erlang_c_in_log_space(servers, traffic), rel=1e-9
    )
    needed = erlang.servers_needed(traffic, 180, 20, 0.8)
    assert needed is not None
    assert erlang.service_level(needed - 1, traffic, 180, 20) < 0.8
    assert erlang.service_level(needed, traffic, 180, 20) >= 0.8


def test_absurd_traffic_gives_up_instead_of_looping() -> None:
    assert erlang.servers_needed(erlang.MAX_SERVERS + 1.0, 180, 20, 0.8) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: erlang.traffic_intensity(10, 0, 180),
        lambda: erlang.traffic_intensity(-1, 60, 180),
        lambda: erlang.erlang_b(-1, 1.0),
        lambda: erlang.erlang_b(1, -1.0),
        lambda: erlang.erlang_b(1, math.nan),
        lambda: erlang.service_level(3, 1.0, 0, 20),
        lambda: erlang.service_level(3, 1.0, 180, -1),
        lambda: erlang.servers_needed(1.0, 180, 20, 1.0),
        lambda: erlang.servers_needed(1.0, 0, 20, 0.8),
    ],
)
def test_nonsense_is_refused(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


traffic = st.floats(min_value=0.0, max_value=500.0, allow_nan=False)
handle = st.floats(min_value=1.0, max_value=3600.0)
threshold = st.floats(min_value=0.0, max_value=600.0)
servers = st.integers(min_value=0, max_value=700)


@given(servers, traffic)
def test_probabilities_are_within_zero_and_one(n: int, a: float) -> None:
    assert 0.0 <= erlang.erlang_b(n, a) <= 1.0
    assert 0.0 <= erlang.probability_of_waiting(n, a) <= 1.0


@given(servers, traffic, handle, threshold)
def test_more_agents_never_make_it_worse(n: int, a: float, h: float, t: float) -> None:
    assert 0.0 <= erlang.service_level(n, a, h, t) <= 1.0
    assert erlang.probability_of_waiting(n + 1, a) <= erlang.probability_of_waiting(n, a) + 1e-12
    assert erlang.service_level(n + 1, a, h, t) >= erlang.service_level(n, a, h, t) - 1e-12
    assert erlang.average_speed_of_answer(n + 1, a, h) <= erlang.average_speed_of_answer(n, a, h)


@given(servers, traffic, handle)
def test_a_longer_threshold_never_lowers_the_service_level(n: int, a: float, h: float) -> None:
    assert erlang.service_level(n, a, h, 30) >= erlang.service_level(n, a, h, 20) - 1e-12


@given(
    st.floats(min_value=0.01, max_value=300.0),
    handle,
    threshold,
    st.floats(min_value=0.05, max_value=0.99),
)
def test_the_agents_needed_are_the_fewest_that_reach_the_target(
    a: float, h: float, t: float, target: float
) -> None:
    n = erlang.servers_needed(a, h, t, target)
    assert n is not None and n > a
    assert erlang.service_level(n, a, h, t) >= target - 1e-9
    if n - 1 > a:
        assert erlang.service_level(n - 1, a, h, t) < target + 1e-9
