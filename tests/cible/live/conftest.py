"""Fixtures of the live tests: a private RabbitMQ node and Redis server on loopback, started
for the module and stopped at its end (cible/live/services.py)."""

from __future__ import annotations

from datetime import datetime

import pytest
from live_support import build_published

from cible.live.services import start_rabbitmq, start_redis

# The published demo warehouse is built as of this date; the events from it on are held back
# for the live path to replay.
HELD_FROM = datetime(2026, 10, 18)


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory):
    node = start_rabbitmq(tmp_path_factory.mktemp("rabbitmq"))
    yield node
    node.stop()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    """A demo warehouse built, segmented and scored as of HELD_FROM (about 90 s); the live
    test modules using it share an xdist group, so it is built once."""
    return build_published(tmp_path_factory.mktemp("published"), hold_out_from=HELD_FROM)
