"""tests/cluster: a real local Redis Cluster for the session (tests/support/redis_cluster.py),
and this process's settings pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from events import redis_clients
from tests.support.redis_cluster import LocalCluster, started


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    try:
        with started(tmp_path_factory.mktemp("redis-cluster")) as cluster:
            yield cluster
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def on_cluster(local_cluster: LocalCluster, settings: Any) -> Iterator[LocalCluster]:
    """This process's settings pointed at the cluster (keys under this run's prefix)."""
    settings.REDIS_CLUSTER = True
    for name in (
        "REDIS_URL",
        "STREAM_REDIS_URL",
        "CHANNEL_LAYER_REDIS_URL",
        "CACHE_REDIS_URL",
    ):
        setattr(settings, name, local_cluster.url)
    settings.REDIS_WAIT_REPLICAS = 1
    yield local_cluster
    client = local_cluster.client()
    try:
        for key in client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}*", count=1000):
            client.delete(key)
    finally:
        client.close()
    redis_clients._sync_clusters.clear()
