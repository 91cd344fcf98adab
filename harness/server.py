"""
Start a real Flowise server (installed by :mod:`harness.install`) and the fake LLM, ready to use.

``FlowiseServer`` is a synchronous context manager, so a pytest session fixture or a script can
use it without an event loop::

    with FlowiseServer() as flowise:        # RealFlowise
        flowise.base_url, flowise.api_key, flowise.credential_id, flowise.llm_base_url
        flowise.flow_data("conversation")   # a decoded flowData dict, ready to POST

``FlowiseServer(version="2.2.8")`` runs another release line (see ``harness.install.LINES``),
``FlowiseServer(queue=True, workers=2)`` runs Flowise in queue mode: a Redis server, the main
server with ``MODE=queue`` and *workers* ``flowise worker`` processes sharing its database,
data directory and secret key.

Flowise stores its data in PostgreSQL by default (``database="postgres"``), as production
deployments do: each server gets its own PostgreSQL (`harness.postgres.PostgresServer`, on
127.0.0.1, in a temporary directory) and its own database there; the Flowise install then needs
no compiled ``sqlite3``. ``database="sqlite"`` keeps Flowise's own default, a SQLite file in the
server's data directory (what the demo runs).

Every process binds to 127.0.0.1 only, every wait is bounded, and every process is stopped
(SIGTERM, then SIGKILL) and the temporary data directory removed on every way out.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from harness import apt, install, postgres


HERE = Path(__file__).resolve().parent
FLOWS_DIR = HERE / "flows"
PRELOAD = HERE / "tiktoken_offline.cjs"
QUEUE_PRELOAD = HERE / "sqlite_busy_timeout.cjs"  # queue mode on SQLite: processes share a file
DATABASE = "postgres"
"""The database a `FlowiseServer` stores its data in unless told otherwise."""

FLOW_NAMES = (
    "conversation",
    "conversation-nonstreaming",
    "llmchain",
    "retrieval",
    "retrieval-broken",
    "toolagent",
    "agentflow",
)

START_TIMEOUT = float(os.environ.get("FLOWISE_ASYNC_START_TIMEOUT", "180"))
# Node 22.1 and newer keep the bytecode of the modules they compile in this folder of the
# install (Node 20 ignores the variable): a second start of Flowise 3.1.4 takes about a third
# less CPU time and wall time than the first.
COMPILE_CACHE_NAME = ".node-compile-cache"
STOP_TIMEOUT = 15.0
REDISLESS_STOP_TIMEOUT = 3.0  # a queue-mode process whose Redis is gone never finishes its stop
HTTP_TIMEOUT = 30.0

ADMIN_NAME = "Test Harness"
ADMIN_EMAIL = "harness@example.com"
ADMIN_PASSWORD = "Harness-Passw0rd!"  # a throwaway server on 127.0.0.1 with a temporary database
API_KEY_NAME = "test-harness"
CREDENTIAL_NAME = "fake-openai"

# The permissions given to the harness's API key: every one an API key may carry (not the
# `workspace` and `admin` categories). Used when they cannot be read from the installed package.
# Chat messages, feedback, leads and upsert history need a valid key but no permission.
PERMISSIONS = (
    "chatflows:view",
    "chatflows:create",
    "chatflows:update",
    "chatflows:duplicate",
    "chatflows:delete",
    "chatflows:export",
    "chatflows:import",
    "chatflows:config",
    "chatflows:domains",
    "agentflows:view",
    "agentflows:create",
    "agentflows:update",
    "agentflows:duplicate",
    "agentflows:delete",
    "agentflows:export",
    "agentflows:import",
    "agentflows:config",
    "agentflows:domains",
    "tools:view",
    "tools:create",
    "tools:update",
    "tools:delete",
    "tools:export",
    "assistants:view",
    "assistants:create",
    "assistants:update",
    "assistants:delete",
    "credentials:view",
    "credentials:create",
    "credentials:update",
    "credentials:delete",
    "credentials:share",
    "variables:view",
    "variables:create",
    "variables:update",
    "variables:delete",
    "apikeys:view",
    "apikeys:create",
    "apikeys:update",
    "apikeys:delete",
    "documentStores:view",
    "documentStores:create",
    "documentStores:update",
    "documentStores:delete",
    "documentStores:add-loader",
    "documentStores:delete-loader",
    "documentStores:preview-process",
    "documentStores:upsert-config",
    "datasets:view",
    "datasets:create",
    "datasets:update",
    "datasets:delete",
    "evaluators:view",
    "evaluators:create",
    "evaluators:update",
    "evaluators:delete",
    "evaluations:view",
    "evaluations:create",
    "evaluations:update",
    "evaluations:delete",
    "evaluations:run",
    "templates:marketplace",
    "templates:custom",
    "templates:custom-delete",
    "templates:toolexport",
    "templates:flowexport",
    "templates:custom-share",
    "executions:view",
    "executions:delete",
    "executions:update",
    "logs:view",
    "loginActivity:view",
)


class HarnessError(RuntimeError):
    """The server could not be started, bootstrapped or stopped."""


def _log(message: str) -> None:
    print(f"[harness.server] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_flow_template(name: str) -> str:
    """Return the raw text of the flowData template *name* (see ``FLOW_NAMES``)."""
    path = FLOWS_DIR / f"{name}.json"
    if not path.is_file():
        raise HarnessError(f"no flow template {name!r}; known: {', '.join(FLOW_NAMES)}")
    return path.read_text(encoding="utf-8")


def render_flow_data(name: str, *, llm_base_url: str, credential_id: str) -> dict[str, Any]:
    """Return the flowData template *name* with the model URL and credential id filled in."""
    text = load_flow_template(name)
    # Substitute inside the decoded structure so that no value needs JSON escaping.
    data = _substitute(
        json.loads(text), {"__LLM_BASE__": llm_base_url, "__CREDENTIAL_ID__": credential_id}
    )
    if not isinstance(data, dict) or "nodes" not in data:
        raise HarnessError(f"flow template {name!r} is not a flowData object")
    return data


def _substitute(value: Any, replacements: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for old, new in replacements.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_substitute(item, replacements) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, replacements) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class RealFlowise:
    """What a test needs to talk to the running server and to steer the fake model."""

    base_url: str
    api_key: str = field(repr=False)
    api_key_id: str
    credential_id: str
    llm_base_url: str
    data_dir: Path
    log_path: Path
    version: str = install.FLOWISE_VERSION
    """The Flowise release running."""
    queue: bool = False
    """Whether it runs in queue mode (Redis and workers)."""
    database: str = DATABASE
    """Where Flowise stores its data: ``"postgres"`` or ``"sqlite"``."""
    server: FlowiseServer | None = field(default=None, repr=False, compare=False)
    """The harness that runs it: ``kill_worker(i)`` and ``stop_redis()`` for fault tests."""

    @property
    def llm_control_url(self) -> str:
        """The fake model's root URL (``/_requests``, ``/_reset``)."""
        return self.llm_base_url.removesuffix("/v1")

    def flow_data(self, name: str) -> dict[str, Any]:
        """Return the decoded flowData of the template *name*, ready for this server."""
        return render_flow_data(
            name, llm_base_url=self.llm_base_url, credential_id=self.credential_id
        )

    def log_tail(self, lines: int = 60) -> str:
        """Return the last *lines* lines of the server's output."""
        return _tail(self.log_path, lines)

    def jobs_per_worker(self) -> list[int]:
        """Queue mode: how many jobs each worker has started (from its log), by worker index."""
        counts = []
        for path in sorted(self.data_dir.glob("worker-*.log")):
            text = path.read_text(encoding="utf-8", errors="replace")
            counts.append(text.count("[BaseQueue] Processing job"))
        return counts

    def llm_requests(self) -> list[dict[str, Any]]:
        """Return the requests the fake model received (path, body, complete, disconnected)."""
        status, body, _ = http_json("GET", f"{self.llm_control_url}/_requests")
        if status != 200 or not isinstance(body, list):
            raise HarnessError(f"fake LLM /_requests answered {status}: {body!r}")
        return body

    def reset_llm_requests(self) -> None:
        """Forget the requests the fake model received so far."""
        http_json("POST", f"{self.llm_control_url}/_reset")


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def http_json(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> tuple[int, Any, list[str]]:
    """
    Send one request with a JSON body (or none) and decode the JSON answer.

    Returns:
        ``(status, decoded body or text, Set-Cookie header values)``; HTTP errors are returned,
        not raised.
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
            cookies = response.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
        cookies = exc.headers.get_all("Set-Cookie") or []
    text = raw.decode("utf-8", "replace")
    try:
        decoded: Any = json.loads(text) if text else None
    except json.JSONDecodeError:
        decoded = text
    return status, decoded, cookies


def _cookie_header(set_cookies: Sequence[str]) -> str:
    pairs = []
    for header in set_cookies:
        pair = header.split(";", 1)[0].strip()
        if "=" in pair:
            pairs.append(pair)
    return "; ".join(pairs)


class _Process:
    """A child process started in its own process group, with bounded stop."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        output: IO[bytes] | int,
    ) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=install.die_with_parent,  # noqa: PLW1509 (async-signal-safe: one syscall)
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> None:
        """SIGTERM the process group without waiting (`stop` waits)."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, wait up to *timeout* seconds, then SIGKILL the process group."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _log(f"{self.name} (pid {self.pid}) ignored SIGTERM for {timeout:.0f} s: SIGKILL")
        # Whatever is left of the group (the process itself or children it started).
        self._signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"{self.name} (pid {self.pid}) survived SIGKILL") from exc

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)


class FlowiseServer:
    """
    Run the fake LLM and a real Flowise on 127.0.0.1, bootstrapped with an API key.

    ``with FlowiseServer() as real:`` gives a :class:`RealFlowise`. Installs Flowise first when
    the cache has no completed install (``install=True``).
    """

    def __init__(
        self,
        *,
        install_if_missing: bool = True,
        keep_data: bool | None = None,
        version: str | None = None,
        queue: bool = False,
        workers: int = 1,
        database: str = DATABASE,
    ) -> None:
        if database not in install.DATABASES:
            raise HarnessError(
                f"unknown database {database!r}; choose from {', '.join(install.DATABASES)}"
            )
        self.database = database
        self.line = install.line(version)
        self.version = self.line.version
        self.queue = queue
        self.worker_count = workers if queue else 0
        self.install_if_missing = install_if_missing
        self.keep_data = (
            os.environ.get("FLOWISE_ASYNC_KEEP_DATA") == "1" if keep_data is None else keep_data
        )
        self.data_dir: Path | None = None
        self.real: RealFlowise | None = None
        self.startup_seconds: float | None = None
        self._flowise: _Process | None = None
        self._llm: _Process | None = None
        self._log_file: IO[bytes] | None = None
        self._redis: _Process | None = None
        self._postgres: postgres.PostgresServer | None = None
        self._db_name = ""
        self._workers: list[_Process] = []
        self._redis_stopped = False  # stop_redis() was called: the processes cannot stop cleanly
        self.redis_port: int | None = None
        self._port = 0
        self._root: Path | None = None
        self._secret = secrets.token_hex(16)

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> RealFlowise:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> RealFlowise:
        """Start both servers and bootstrap Flowise; on failure the caller must call ``stop``."""
        if self.install_if_missing:
            root = install.ensure_installed(version=self.version, databases=(self.database,))
        else:
            root = install.install_dir(self.version)
            if not install.is_installed(root, database=self.database):
                raise HarnessError(
                    f"Flowise {self.version} is not installed for {self.database}; run: "
                    f"{sys.executable} -m harness.install --version {self.version} "
                    f"--database {self.database}"
                )
        package = install.flowise_package_dir(root)
        if (package / ".env").exists():
            raise HarnessError(
                f"{package / '.env'} exists and would override the server's settings; remove it"
            )
        self.data_dir = Path(tempfile.mkdtemp(prefix="flowise-async-it-"))
        llm_base_url = self._start_llm()
        if self.database == "postgres":
            self._start_postgres()
        if self.queue:
            self._start_redis()
        started = time.monotonic()
        base_url = self._start_flowise(root)
        self.startup_seconds = time.monotonic() - started
        _log(
            f"Flowise {self.version} on {self.database} is up at {base_url} "
            f"after {self.startup_seconds:.1f} s"
        )
        if self.queue and self.database == "sqlite":
            self._use_wal()
        for index in range(self.worker_count):
            self._start_worker(root, index)
        self.real = self._bootstrap(base_url, llm_base_url)
        return self.real

    def stop(self) -> None:
        """Stop both processes (bounded) and remove the data directory. Safe to call twice."""
        errors: list[BaseException] = []
        workers, self._workers = self._workers, []
        # Main and workers shut down together (each waits for its queue connections), so
        # their grace periods overlap instead of adding up. Without Redis (`stop_redis`) they
        # never finish shutting down: a short grace, then SIGKILL.
        for process in [*workers, self._flowise]:
            if process is not None:
                process.terminate()
        grace = REDISLESS_STOP_TIMEOUT if self._redis_stopped else STOP_TIMEOUT
        deadline = time.monotonic() + grace
        for worker in workers:
            try:
                worker.stop(timeout=max(0.0, deadline - time.monotonic()))
            except BaseException as exc:
                errors.append(exc)
        if self._flowise is not None:
            try:
                self._flowise.stop(timeout=max(0.0, deadline - time.monotonic()))
            except BaseException as exc:
                errors.append(exc)
            self._flowise = None
        for attr in ("_flowise", "_redis", "_llm"):
            process: _Process | None = getattr(self, attr)
            if process is not None:
                try:
                    process.stop()
                except BaseException as exc:
                    errors.append(exc)
                setattr(self, attr, None)
        if self._postgres is not None:  # after every process that uses it
            try:
                self._postgres.stop()
            except BaseException as exc:
                errors.append(exc)
            self._postgres = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.data_dir is not None:
            if self.keep_data:
                _log(f"kept the server's data in {self.data_dir}")
            else:
                shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None
        if errors:
            raise errors[0]

    # -- fake LLM -------------------------------------------------------------------------

    def _start_llm(self) -> str:
        assert self.data_dir is not None
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(HERE.parent), env.get("PYTHONPATH", "")])
        )
        env["PYTHONUNBUFFERED"] = "1"
        out_path = self.data_dir / "fake-llm.log"
        with out_path.open("wb") as out:
            self._llm = _Process(
                "fake LLM",
                [sys.executable, "-m", "harness.fake_llm", "--host", "127.0.0.1", "--port", "0"],
                env=env,
                cwd=self.data_dir,
                output=out,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in out_path.read_text(errors="replace").splitlines():
                if line.startswith("LISTENING "):
                    return f"http://127.0.0.1:{int(line.split()[1])}/v1"
            if not self._llm.alive():
                raise HarnessError(f"the fake LLM exited:\n{_tail(out_path, 30)}")
            time.sleep(0.1)
        raise HarnessError(
            f"the fake LLM did not report its port within 30 s:\n{_tail(out_path, 30)}"
        )

    # -- PostgreSQL -----------------------------------------------------------------------

    def _start_postgres(self) -> None:
        """Start this server's own PostgreSQL and create its database."""
        try:
            self._postgres = postgres.PostgresServer().start()
            self._db_name = self._postgres.create_database("flowise")
        except postgres.PostgresError as exc:
            raise HarnessError(str(exc)) from exc

    # -- Flowise --------------------------------------------------------------------------

    def _flowise_env(self, root: Path, port: int) -> dict[str, str]:
        assert self.data_dir is not None
        env = {
            key: value
            for key, value in install.node_env().items()
            # Nothing from the caller's environment may point the server elsewhere.
            if not key.startswith(("DATABASE_", "FLOWISE_", "APIKEY_", "SECRETKEY_", "BLOB_"))
            and key
            not in {"NODE_OPTIONS", "NODE_ENV", "PORT", "HOST", "LOG_PATH", "LOG_LEVEL", "DEBUG"}
        }
        data = self.data_dir
        # Several processes on one SQLite file must wait for each other's writes; PostgreSQL
        # serves them as it serves any deployment.
        sqlite_queue = self.queue and self.database == "sqlite"
        preloads = (PRELOAD, QUEUE_PRELOAD) if sqlite_queue else (PRELOAD,)
        node_options = " ".join(
            (*(f"--require {preload}" for preload in preloads), *self.line.node_options)
        )
        env.update(
            {
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "SECRETKEY_PATH": str(data),
                "LOG_PATH": str(data / "logs"),
                "BLOB_STORAGE_PATH": str(data / "storage"),
                "DISABLE_FLOWISE_TELEMETRY": "true",
                "NODE_OPTIONS": node_options,
                "NODE_COMPILE_CACHE": str(root / COMPILE_CACHE_NAME),
                "FLOWISE_ASYNC_NODE_MODULES": str(root / "node_modules"),
            }
        )
        if self.database == "postgres":
            assert self._postgres is not None
            env.update(
                {
                    "DATABASE_TYPE": "postgres",
                    "DATABASE_HOST": self._postgres.host,
                    "DATABASE_PORT": str(self._postgres.port),
                    "DATABASE_USER": self._postgres.user,
                    "DATABASE_PASSWORD": "",  # trust authentication, 127.0.0.1 only
                    "DATABASE_NAME": self._db_name,
                }
            )
        else:
            env.update({"DATABASE_TYPE": "sqlite", "DATABASE_PATH": str(data)})
        if self.queue:
            assert self.redis_port is not None
            env.update(
                {
                    "MODE": "queue",
                    "REDIS_HOST": "127.0.0.1",
                    "REDIS_PORT": str(self.redis_port),
                    "QUEUE_NAME": f"flowise-async-{port}",
                    # Main and workers decrypt the same credentials.
                    "FLOWISE_SECRETKEY_OVERWRITE": self._secret,
                }
            )
        return env

    def _start_flowise(self, root: Path) -> str:
        assert self.data_dir is not None
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        log_path = self.data_dir / "flowise.log"
        self._log_file = log_path.open("wb")
        run = install.flowise_package_dir(root) / "bin" / "run"
        _log(f"starting Flowise on {base_url} (data in {self.data_dir})")
        self._port = port
        self._flowise = _Process(
            f"Flowise {self.version}",
            [str(install.node_bin(self.version)), str(run), "start"],
            env=self._flowise_env(root, port),
            cwd=self.data_dir,
            output=self._log_file,
        )
        deadline = time.monotonic() + START_TIMEOUT
        next_note = time.monotonic() + 15
        while True:
            if not self._flowise.alive():
                raise HarnessError(
                    f"Flowise exited with code {self._flowise.proc.returncode} before it was "
                    f"ready; last lines of its log:\n{_tail(log_path, 60)}"
                )
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                status, body, _ = http_json("GET", f"{base_url}/api/v1/ping", timeout=2)
                if status == 200 and body == "pong":
                    return base_url
            now = time.monotonic()
            if now > deadline:
                raise HarnessError(
                    f"Flowise did not answer /api/v1/ping within {START_TIMEOUT:.0f} s; "
                    f"last lines of its log:\n{_tail(log_path, 60)}"
                )
            if now > next_note:
                _log(f"waiting for Flowise ({now - deadline + START_TIMEOUT:.0f} s)")
                next_note = now + 15
            time.sleep(0.5)

    # -- queue mode -----------------------------------------------------------------------

    def _use_wal(self) -> None:
        """
        Put the shared SQLite database in WAL mode before the workers open it.

        In queue mode the main server and the workers are separate processes on one database
        file. In SQLite's default rollback mode a reader in one process makes a write in another
        fail at once with ``SQLITE_BUSY`` (Flowise sets no busy timeout), which a burst of
        concurrent runs hits; in WAL mode readers and a writer work at the same time. The mode
        is stored in the file, so every process that opens it uses it. Writers from different
        processes still meet: ``QUEUE_PRELOAD`` makes them wait for each other.
        """
        assert self.data_dir is not None
        database = self.data_dir / "database.sqlite"
        with contextlib.closing(sqlite3.connect(database, timeout=10)) as conn:
            mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        if mode.lower() != "wal":
            raise HarnessError(f"could not put {database} in WAL mode (it stays {mode!r})")

    def _start_redis(self) -> None:
        assert self.data_dir is not None
        binary = ensure_redis()
        self.redis_port = free_port()
        log_path = self.data_dir / "redis.log"
        with log_path.open("wb") as out:
            self._redis = _Process(
                "Redis",
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.redis_port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.data_dir),
                ],
                env=dict(os.environ),
                cwd=self.data_dir,
                output=out,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not self._redis.alive():
                raise HarnessError(f"Redis exited:\n{_tail(log_path, 30)}")
            if _redis_ping(self.redis_port):
                _log(f"Redis is up on 127.0.0.1:{self.redis_port}")
                return
            time.sleep(0.2)
        raise HarnessError(f"Redis did not answer PING within 30 s:\n{_tail(log_path, 30)}")

    def _start_worker(self, root: Path, index: int) -> None:
        assert self.data_dir is not None
        self._root = root
        run = install.flowise_package_dir(root) / "bin" / "run"
        env = self._flowise_env(root, self._port)
        env["PORT"] = str(free_port())  # a worker serves nothing, but must not share the port
        log_path = self.data_dir / f"worker-{index}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as out:
            worker = _Process(
                f"Flowise worker {index}",
                [str(install.node_bin(self.version)), str(run), "worker"],
                env=env,
                cwd=self.data_dir,
                output=out,
            )
        if index < len(self._workers):
            self._workers[index] = worker
        else:
            self._workers.append(worker)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not worker.alive():
                raise HarnessError(f"worker {index} exited:\n{_tail(log_path, 40)}")
            if _worker_ready(log_path, offset):
                _log(f"worker {index} is ready")
                return
            time.sleep(0.5)
        raise HarnessError(f"worker {index} was not ready in time:\n{_tail(log_path, 40)}")

    def query(self, sql: str) -> list[list[str]]:
        """
        Run one SQL query on the database this Flowise stores its data in; return its rows,
        every value as text (for tests that check where the data went).
        """
        if self.database == "postgres":
            if self._postgres is None:
                raise HarnessError("the server is not running")
            out = self._postgres.psql(sql, database=self._db_name)
            return [row.split("|") for row in out.splitlines() if row]
        if self.data_dir is None:
            raise HarnessError("the server is not running")
        path = self.data_dir / "database.sqlite"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return [["" if v is None else str(v) for v in row] for row in conn.execute(sql)]

    def kill_worker(self, index: int = 0) -> None:
        """SIGKILL the worker *index* (queue mode): a worker that dies mid-run."""
        self._workers[index]._signal(signal.SIGKILL)
        self._workers[index].proc.wait(timeout=10)

    def restart_worker(self, index: int = 0) -> None:
        """Start the worker *index* again (after `kill_worker`), ready when this returns."""
        if self._root is None:
            raise HarnessError("no worker was started")
        self._workers[index].stop()
        self._start_worker(self._root, index)

    def stop_redis(self) -> None:
        """SIGKILL Redis (queue mode): the queue and its event channel vanish mid-run."""
        self._redis_stopped = True
        if self._redis is not None:
            self._redis._signal(signal.SIGKILL)
            self._redis.proc.wait(timeout=10)

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the running workers."""
        return [worker.pid for worker in self._workers if worker.alive()]

    # -- bootstrap ------------------------------------------------------------------------

    def _bootstrap(self, base_url: str, llm_base_url: str) -> RealFlowise:
        assert self.data_dir is not None
        api = f"{base_url}/api/v1"
        if not self.line.supports_accounts:
            # 2.x: no users; the UI's header opens the key routes (keys live in api.json).
            key = self._create_key(api, {"x-request-from": "internal"}, {"keyName": API_KEY_NAME})
            return self._finish_bootstrap(base_url, llm_base_url, api, key)
        status, body, _ = http_json(
            "POST",
            f"{api}/account/register",
            {"user": {"name": ADMIN_NAME, "email": ADMIN_EMAIL, "credential": ADMIN_PASSWORD}},
        )
        if status not in (200, 201, 400):
            raise HarnessError(f"register answered {status}: {body!r}")
        status, body, cookies = http_json(
            "POST", f"{api}/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        if status != 200 or not cookies:
            raise HarnessError(f"login answered {status}: {body!r}")
        internal = {"Cookie": _cookie_header(cookies), "x-request-from": "internal"}

        permissions = sorted(known_permissions(self.version)) or list(PERMISSIONS)
        key = self._create_key(api, internal, {"keyName": API_KEY_NAME, "permissions": permissions})
        return self._finish_bootstrap(base_url, llm_base_url, api, key)

    def _create_key(
        self, api: str, headers: Mapping[str, str], payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        status, body, _ = http_json("POST", f"{api}/apikey", payload, headers=headers)
        if status not in (200, 201) or not isinstance(body, list):
            raise HarnessError(f"creating the API key answered {status}: {body!r}")
        key = next((k for k in body if k.get("keyName") == API_KEY_NAME), None)
        if key is None or not key.get("apiKey"):
            raise HarnessError(f"the API key list has no {API_KEY_NAME!r}: {body!r}")
        return dict(key)

    def _finish_bootstrap(
        self, base_url: str, llm_base_url: str, api: str, key: Mapping[str, Any]
    ) -> RealFlowise:
        assert self.data_dir is not None
        bearer = {"Authorization": f"Bearer {key['apiKey']}"}

        status, body, _ = http_json(
            "POST",
            f"{api}/credentials",
            {
                "name": CREDENTIAL_NAME,
                "credentialName": "openAIApi",
                "plainDataObj": {"openAIApiKey": "sk-fake"},
            },
            headers=bearer,
        )
        if status not in (200, 201) or not isinstance(body, dict) or "id" not in body:
            raise HarnessError(f"creating the credential answered {status}: {body!r}")
        return RealFlowise(
            base_url=base_url,
            api_key=str(key["apiKey"]),
            api_key_id=str(key["id"]),
            credential_id=str(body["id"]),
            llm_base_url=llm_base_url,
            data_dir=self.data_dir,
            log_path=self.data_dir / "flowise.log",
            version=self.version,
            queue=self.queue,
            database=self.database,
            server=self,
        )


def _redis_ping(port: int) -> bool:
    with (
        contextlib.suppress(OSError),
        socket.create_connection(("127.0.0.1", port), timeout=2) as sock,
    ):
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")
    return False


def _worker_ready(log_path: Path, offset: int = 0) -> bool:
    # dist/commands/worker.js logs "Prediction Worker <id> created" once it listens.
    with contextlib.suppress(OSError), log_path.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode("utf-8", "replace")
        return any("Prediction Worker" in line and "created" in line for line in text.splitlines())
    return False


def ensure_redis() -> str:
    """Return the ``redis-server`` executable; install Debian's package where it is missing."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        apt.install("redis-server", timeout=600, log=_log)
    except apt.AptError as exc:
        raise HarnessError(
            f"queue mode needs redis-server (Debian: apt-get install redis-server): {exc}"
        ) from exc
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).is_file():
        raise HarnessError("redis-server is still missing after apt-get install")
    return found


_known_permissions: dict[str, frozenset[str]] = {}
_known_lock = threading.Lock()


def known_permissions(version: str | None = None) -> frozenset[str]:
    """
    Return the permission names the installed server defines (empty if they cannot be read).

    They are read from ``dist/enterprise/rbac/Permissions.js`` by Node itself, so that an API
    key is never created with a name the server does not know.
    """
    version = install.line(version).version
    with _known_lock:
        if version in _known_permissions:
            return _known_permissions[version]
        names: frozenset[str] = frozenset()
        package = install.flowise_package_dir(version=version)
        module = package / "dist" / "enterprise" / "rbac" / "Permissions.js"
        # API keys may not carry the `workspace` and `admin` categories (the server refuses).
        script = (
            "const { Permissions } = require(process.argv[1]);"
            "const out = [];"
            "for (const c of new Permissions().categories) {"
            "  if (c.category === 'workspace' || c.category === 'admin') continue;"
            "  for (const p of c.permissions) out.push(p.name); }"
            "console.log(JSON.stringify(out));"
        )
        if module.is_file():
            with contextlib.suppress(subprocess.SubprocessError, OSError, ValueError):
                result = subprocess.run(
                    [str(install.node_bin(version)), "-e", script, str(module)],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=True,
                    env=install.node_env(version),
                )
                names = frozenset(
                    str(n) for n in json.loads(result.stdout.strip().splitlines()[-1])
                )
        _known_permissions[version] = names
        return names
