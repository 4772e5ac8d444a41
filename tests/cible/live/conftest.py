"""Fixtures of the live tests: a private RabbitMQ node and Redis server on loopback, started
for the module and stopped at its end (cible/live/services.py)."""

from __future__ import annotations

import pytest

from cible.live.services import start_rabbitmq, start_redis


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
