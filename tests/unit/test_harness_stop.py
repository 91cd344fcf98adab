"""A queue-mode server stops its processes together, and at once when its Redis is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import server as harness_server
from harness.server import FlowiseServer


# Ignores SIGTERM, as Flowise's main server and workers do while their Redis is gone.
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(120)",
]


def _stubborn(name: str, tmp_path: Path) -> harness_server._Process:
    process = harness_server._Process(
        name, STUBBORN, env=os.environ, cwd=tmp_path, output=subprocess.PIPE
    )
    assert process.proc.stdout is not None
    assert process.proc.stdout.readline() == b"up\n"  # the handler is in place
    return process


def _close_pipes(processes: list[harness_server._Process | None]) -> None:
    for process in processes:
        if process is not None and process.proc.stdout is not None:
            process.proc.stdout.close()


def _server(tmp_path: Path, workers: int) -> FlowiseServer:
    server = FlowiseServer(version="3.1.4", queue=True, workers=workers, database="postgres")
    server._workers = [_stubborn(f"worker {i}", tmp_path) for i in range(workers)]
    server._flowise = _stubborn("flowise", tmp_path)
    return server


def test_main_and_workers_share_one_grace_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness_server, "STOP_TIMEOUT", 2.0)
    server = _server(tmp_path, workers=2)
    processes = [*server._workers, server._flowise]

    started = time.monotonic()
    server.stop()
    took = time.monotonic() - started

    assert all(process is not None and not process.alive() for process in processes)
    _close_pipes(processes)
    assert took < 2 * 2.0  # one after the other, three grace periods would be 6 s


def test_without_redis_the_grace_is_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness_server, "STOP_TIMEOUT", 30.0)
    server = _server(tmp_path, workers=2)
    processes = [*server._workers, server._flowise]
    server.stop_redis()  # no Redis was started: only recorded

    started = time.monotonic()
    server.stop()
    took = time.monotonic() - started

    assert all(process is not None and not process.alive() for process in processes)
    _close_pipes(processes)
    assert took < harness_server.REDISLESS_STOP_TIMEOUT + 5
