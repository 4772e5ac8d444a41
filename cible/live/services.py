"""A private RabbitMQ node and Redis server on loopback, for the tests, `cible live` and the
benchmark. Users run their own (``CIBLE_BROKER_URL``, ``CIBLE_REDIS_URL``).

Each service gets free ports, its own data folder and, for RabbitMQ, its own Erlang node name
and port mapper (``ERL_EPMD_PORT``), so several can run side by side on one machine and
stopping one never touches another's. Nothing starts by itself: Debian's packages are used
as plain programs (``apt-get install rabbitmq-server redis-server``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Debian installs the real RabbitMQ scripts here; /usr/sbin/rabbitmq-server is a wrapper that
# switches to the `rabbitmq` user (which cannot write our folders) and logs to /var/log.
RABBITMQ_BIN_DIRS = (Path("/usr/lib/rabbitmq/bin"),)
CONSISTENT_HASH_PLUGIN = "rabbitmq_consistent_hash_exchange"


class ServiceError(RuntimeError):
    """A service that cannot be started (program missing, did not become ready)."""


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _program(name: str, folders: tuple[Path, ...] = ()) -> str:
    for folder in folders:
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in ("/usr/sbin", "/usr/bin") if (Path(d) / name).exists()),
        None,
    )
    if not found:
        package = "rabbitmq-server" if name.startswith("rabbitmq") else "redis-server"
        raise ServiceError(f"{name} is not installed: apt-get install {package}")
    return found


def _wait(ready, process: subprocess.Popen, what: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"{what} exited with {process.returncode}; see {log}")
        if ready():
            return
        time.sleep(0.1)
    process.kill()
    raise ServiceError(f"{what} not ready after {timeout:.0f} s; see {log}")


def _answers(port: int, hello: bytes, expect: bytes) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(hello)
            return connection.recv(len(expect)).startswith(expect)
    except OSError:
        return False


@dataclass
class RabbitNode:
    """A RabbitMQ node of our own: ``url`` for clients, ``stop()`` when done."""

    folder: Path
    port: int
    dist_port: int
    epmd_port: int
    node_name: str
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def log(self) -> Path:
        return self.folder / "rabbitmq.log"

    def _env(self) -> dict[str, str]:
        home = self.folder / "home"
        home.mkdir(parents=True, exist_ok=True)
        plugins = self.folder / "enabled_plugins"
        plugins.write_text(f"[{CONSISTENT_HASH_PLUGIN}].\n")
        return {
            **os.environ,
            # The Erlang cookie is written to $HOME: a folder of ours, for server and rabbitmqctl.
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node_name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            # Erlang distribution on loopback only (it listens on every interface by default).
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            # Not /etc/rabbitmq: a system-wide configuration must not leak into a private node.
            "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.folder / "advanced.config"),
        }

    def start(self, timeout: float = 90.0) -> RabbitNode:
        """Start the node (again, after `stop`, with the same data: durable queues survive)."""
        server = _program("rabbitmq-server", RABBITMQ_BIN_DIRS)
        env = self._env()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [server],
                env=env,
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        # The AMQP listener opens once the node and its plugins have booted.
        hello = b"AMQP\x00\x00\x09\x01"
        _wait(
            lambda: _answers(self.port, hello, b"\x01"), self.process, "RabbitMQ", self.log, timeout
        )
        return self

    def ctl(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """Run ``rabbitmqctl -n <node> ...`` against this node."""
        return subprocess.run(
            [_program("rabbitmqctl", RABBITMQ_BIN_DIRS), "-n", self.node_name, *args],
            env=self._env(),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node and its own port mapper; safe to call twice."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                self.ctl("stop", timeout=timeout)
                self.process.wait(timeout=timeout)
            except (subprocess.TimeoutExpired, OSError):
                self.kill()
        self.process = None
        # The port mapper is ours (ERL_EPMD_PORT): nobody else's node uses it.
        subprocess.run(
            [_program("epmd"), "-kill"],
            env={**os.environ, "ERL_EPMD_PORT": str(self.epmd_port)},
            capture_output=True,
            timeout=10,
        )

    def kill(self) -> None:
        """kill -9 the node (a crash, for the fault tests)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def restart(self, timeout: float = 90.0) -> None:
        self.stop()
        self.start(timeout)


def start_rabbitmq(folder: Path, timeout: float = 90.0) -> RabbitNode:
    """A fresh RabbitMQ node on free loopback ports, its data in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    node = RabbitNode(
        folder=folder,
        port=port,
        dist_port=free_port(),
        epmd_port=free_port(),
        node_name=f"cible{port}@localhost",
    )
    return node.start(timeout)


@dataclass
class RedisServer:
    """A Redis server of our own: ``url`` for clients, ``stop()`` when done."""

    folder: Path
    port: int
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.folder / "redis.log"

    def start(self, timeout: float = 30.0) -> RedisServer:
        # No snapshots: the online store is rebuilt from the warehouse (docs/live.md).
        command = [
            _program("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.folder),
            "--logfile",
            str(self.log),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        ping = b"*1\r\n$4\r\nPING\r\n"
        _wait(lambda: _answers(self.port, ping, b"+PONG"), self.process, "Redis", self.log, timeout)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self.process = None


def start_redis(folder: Path, timeout: float = 30.0) -> RedisServer:
    """A fresh Redis on a free loopback port, writing only into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return RedisServer(folder=folder, port=free_port()).start(timeout)


@dataclass
class LiveProcess:
    """A live component (API or worker) in its own process: ``stop()`` asks it to finish its
    work (SIGTERM: graceful), ``kill()`` is kill -9.

    ``start()`` returns once the component can take work: an API answers ``/health``; a
    worker has written its first heartbeat (`worker_heartbeat`). ``ready_after`` is how long
    that took, in seconds."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    # For a component without a port: is the process of this pid ready?
    ready: Callable[[int], bool] | None = field(default=None, repr=False)
    process: subprocess.Popen | None = field(default=None, repr=False)
    ready_after: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> LiveProcess:
        started = time.monotonic()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        pid = self.process.pid
        if self.port is not None:
            request = b"GET /health HTTP/1.0\r\n\r\n"
            _wait(
                lambda: _answers(self.port, request, b"HTTP/1.1 200"),
                self.process,
                self.name,
                self.log,
                timeout,
            )
        elif self.ready is not None:
            _wait(lambda: self.ready(pid), self.process, self.name, self.log, timeout)
        self.ready_after = time.monotonic() - started
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        code, self.process = self.process.returncode, None
        return code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def live_environment(broker_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of live processes: the broker and Redis to use, and any other setting."""
    import sys

    env = {**os.environ, "CIBLE_BROKER_URL": broker_url, "CIBLE_REDIS_URL": redis_url}
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The same interpreter, whatever the caller's PATH.
    env["CIBLE_PYTHON"] = sys.executable
    return env


def live_process(
    component: str, env: dict[str, str], log_dir: Path, *args: str, port: int | None = None
) -> LiveProcess:
    """An unstarted process running ``python -m cible.live <component> ...``.

    `component` is ``collector`` or ``lookup`` (an HTTP port is chosen when not given) or
    ``worker`` (ready at its first heartbeat in the store of ``env``'s ``CIBLE_REDIS_URL``).
    """
    if component in ("collector", "lookup") and port is None:
        port = free_port()
    command = [env.get("CIBLE_PYTHON", "python3"), "-m", "cible.live", component, *args]
    if port is not None:
        command += ["--port", str(port)]
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    suffix = "-".join(a.strip("-").replace("/", "of") for a in args if a)[:40]
    name = f"{component}-{suffix}" if suffix else component
    ready = None
    if component == "worker":
        worker_id = args[args.index("--id") + 1] if "--id" in args else "w0"
        ready = worker_heartbeat(env, worker_id)
    return LiveProcess(name, command, env, log_dir / f"{name}.log", port, ready)


def worker_heartbeat(env: dict[str, str], worker_id: str) -> Callable[[int], bool]:
    """Whether worker `worker_id`, process `pid`, has written its heartbeat in the online
    store. It writes the first once its models are loaded and warmed and its queues consumed:
    until then events wait in the broker, and a load sent at once measures the worker's
    start-up (imports, models, warm-up: seconds on 2 cores) as latency."""
    import redis

    from cible.live.config import load_live_config
    from cible.live.store import Store, loads

    store = Store.connect(env["CIBLE_REDIS_URL"], load_live_config(env.get("CIBLE_LIVE_CONFIG")))
    key = store.worker_key(worker_id)

    def ready(pid: int) -> bool:
        try:
            record = loads(store.client.get(key))
        except (redis.RedisError, OSError):
            return False
        return record is not None and record.get("pid") == pid

    return ready
