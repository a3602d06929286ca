"""The import graph: dependencies point down.

    routing_service.urls / .asgi / .api     the project's wiring and the REST API
    realtime                                websocket consumers, snapshots, replay
    chats, tenancy, router, ingest, outbound, observability, sla_engine, analytics
    events                                  event schema, outbox, log (no domain imports)

Read by grimp from the source (imports inside functions count too), so a new upward import
fails here, with the chain that makes it.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("events", "routing_service", "realtime", "sla_engine", "analytics")

# Everything below the websocket layer: the chat domain and the workers.
BELOW_REALTIME = (
    "routing_service.chats",
    "routing_service.tenancy",
    "routing_service.router",
    "routing_service.ingest",
    "routing_service.outbound",
    "routing_service.observability",
    "sla_engine",
    "analytics",
)
# What may import realtime: the project's URL and ASGI wiring, and the REST API (which issues
# websocket tickets).
ABOVE_REALTIME = ("routing_service.urls", "routing_service.asgi", "routing_service.api")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


@pytest.mark.parametrize("upper", ["routing_service", "realtime", "sla_engine", "analytics"])
def test_events_imports_nothing_of_the_layers_above(graph: grimp.ImportGraph, upper: str) -> None:
    chains = graph.find_shortest_chains("events", upper, as_packages=True)
    assert chains == set(), f"events imports {upper}: {sorted(chains)}"


@pytest.mark.parametrize("lower", BELOW_REALTIME)
def test_the_domain_never_imports_the_websocket_layer(graph: grimp.ImportGraph, lower: str) -> None:
    chains = graph.find_shortest_chains(lower, "realtime", as_packages=True)
    assert chains == set(), f"{lower} imports realtime: {sorted(chains)}"


def test_only_the_wiring_and_the_api_import_realtime(graph: grimp.ImportGraph) -> None:
    importers = {
        module
        for module in graph.find_modules_that_directly_import("realtime", as_package=True)
        if not module.startswith("realtime")
    }
    assert importers, "the project must wire realtime in somewhere"
    stray = {
        m for m in importers if not any(m == a or m.startswith(a + ".") for a in ABOVE_REALTIME)
    }
    assert stray == set()


def test_chat_actions_sla_engine_and_realtime_all_use_the_events_package(
    graph: grimp.ImportGraph,
) -> None:
    for user in ("routing_service.chats", "sla_engine", "realtime", "routing_service.router"):
        assert graph.chain_exists(user, "events", as_packages=True), user
