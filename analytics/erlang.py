"""Erlang C: the queueing mathematics behind a staffing forecast, as pure functions of numbers.

Contacts arrive at random (Poisson) at a steady rate, each holds one server for a handle time
drawn from an exponential distribution, nobody abandons, and waiting contacts are served in
order by ``n`` identical servers (M/M/n). With traffic ``a = arrival rate × handle time``
(Erlangs):

* ``erlang_b(n, a)``: the probability that all ``n`` servers are busy in a loss system,
  computed with the recursion ``B(0) = 1``, ``B(k) = a·B(k-1) / (k + a·B(k-1))``. Every step
  stays within [0, 1], so there are no factorials or powers to overflow and thousands of
  servers are as cheap and exact as ten.
* ``probability_of_waiting(n, a)``: Erlang C, ``C = n·B / (n - a·(1 - B))``; 1 when
  ``n <= a`` (the queue grows without bound).
* ``service_level(n, a, handle, threshold)``: the share answered within ``threshold``,
  ``1 - C·exp(-(n - a)·threshold / handle)``.
* ``average_speed_of_answer(n, a, handle)``: the mean wait, ``C·handle / (n - a)``
  (infinite when ``n <= a``).
* ``servers_needed(a, handle, threshold, target)``: the fewest servers reaching ``target``.

Limits, for whoever reads the numbers: real contacts abandon (Erlang C then overstates the
wait and the staff needed a little), arrivals bunch, handle times are not exponential, and the
formula describes a steady state, not the next five minutes after a burst. It is the standard
first estimate that contact centres plan with, not a simulation. How Switchboard maps agents
who take several chats at once onto servers is in ``analytics.live_metrics`` and
docs/operations.md ("Live metrics and the staffing forecast").
"""

from __future__ import annotations

import math
from typing import Final

__all__ = [
    "MAX_SERVERS",
    "average_speed_of_answer",
    "erlang_b",
    "probability_of_waiting",
    "servers_needed",
    "service_level",
    "traffic_intensity",
]

# Where servers_needed stops looking: far beyond any company, and it keeps a bad input (an
# absurd arrival rate) from looping for long. Traffic above it returns None.
MAX_SERVERS: Final = 100_000


def traffic_intensity(contacts: float, period_seconds: float, handle_seconds: float) -> float:
    """Offered traffic in Erlangs: ``contacts`` arriving over ``period_seconds``, each handled
    for ``handle_seconds`` on average (100 contacts in 1,800 s at 180 s each: 10 Erlangs)."""
    if period_seconds <= 0:
        raise ValueError("period_seconds must be positive")
    if contacts < 0 or handle_seconds < 0:
        raise ValueError("contacts and handle_seconds must not be negative")
    return contacts * handle_seconds / period_seconds


def _check(servers: int, traffic: float) -> None:
    if servers < 0:
        raise ValueError("servers must not be negative")
    if traffic < 0 or not math.isfinite(traffic):
        raise ValueError("traffic must be a finite number of Erlangs, not negative")


def erlang_b(servers: int, traffic: float) -> float:
    """Erlang B: the blocking probability of ``servers`` servers offered ``traffic`` Erlangs."""
    _check(servers, traffic)
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def probability_of_waiting(servers: int, traffic: float) -> float:
    """Erlang C: the probability that a contact has to wait (1 when ``servers <= traffic``)."""
    _check(servers, traffic)
    if traffic == 0:
        return 0.0
    if servers <= traffic:
        return 1.0
    blocking = erlang_b(servers, traffic)
    waiting = servers * blocking / (servers - traffic * (1 - blocking))
    return min(1.0, max(0.0, waiting))


def service_level(
    servers: int, traffic: float, handle_seconds: float, threshold_seconds: float
) -> float:
    """The share of contacts answered within ``threshold_seconds`` (0 when the queue grows
    without bound)."""
    if handle_seconds <= 0:
        raise ValueError("handle_seconds must be positive")
    if threshold_seconds < 0:
        raise ValueError("threshold_seconds must not be negative")
    waiting = probability_of_waiting(servers, traffic)
    if traffic > 0 and servers <= traffic:
        return 0.0
    level = 1.0 - waiting * math.exp(-(servers - traffic) * threshold_seconds / handle_seconds)
    return min(1.0, max(0.0, level))


def average_speed_of_answer(servers: int, traffic: float, handle_seconds: float) -> float:
    """The mean wait in seconds over all contacts (``math.inf`` when ``servers <= traffic``)."""
    if handle_seconds <= 0:
        raise ValueError("handle_seconds must be positive")
    waiting = probability_of_waiting(servers, traffic)
    if traffic == 0:
        return 0.0
    if servers <= traffic:
        return math.inf
    return waiting * handle_seconds / (servers - traffic)


def servers_needed(
    traffic: float, handle_seconds: float, threshold_seconds: float, target: float
) -> int | None:
    """The fewest servers whose service level reaches ``target`` (0 for no traffic); None past
    ``MAX_SERVERS``.

    Starts at the first stable count (just above the traffic) and walks up: each step is one
    more recursion step of Erlang B, so the whole search costs O(answer).
    """
    if not 0 <= target < 1:
        raise ValueError("target must be within [0, 1)")
    if handle_seconds <= 0:
        raise ValueError("handle_seconds must be positive")
    if threshold_seconds < 0:
        raise ValueError("threshold_seconds must not be negative")
    _check(0, traffic)
    if traffic == 0:
        return 0
    servers = math.floor(traffic) + 1
    if servers > MAX_SERVERS:
        return None
    blocking = erlang_b(servers, traffic)
    while True:
        waiting = servers * blocking / (servers - traffic * (1 - blocking))
        decay = math.exp(-(servers - traffic) * threshold_seconds / handle_seconds)
        if 1.0 - min(1.0, waiting) * decay >= target:
            return servers
        servers += 1
        if servers > MAX_SERVERS:
            return None
        blocking = traffic * blocking / (servers + traffic * blocking)
