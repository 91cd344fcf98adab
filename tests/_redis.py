"""
A real ``redis-server`` for the tests: Debian's package (installed with apt-get where missing),
started on 127.0.0.1 on a free port in a temporary directory, stopped afterwards.

``python -m tests._redis`` installs it ahead of a test run (the nox sessions call it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness.server import ensure_redis, free_port


class RedisServer:
    """One ``redis-server`` process (no persistence), optionally with a password."""

    def __init__(self, directory: Path, *, password: str | None = None) -> None:
        self.directory = directory
        self.password = password
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL of its database 0 (with the password, if any)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30) -> None:
        """Start it (on the same port after a stop) and wait, bounded, until it answers PING."""
        args = [ensure_redis(), "--bind", "127.0.0.1", "--port", str(self.port)]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        if self.password:
            args += ["--requirepass", self.password]
        log = (self.directory / "redis.log").open("ab")
        with log:
            self._process = subprocess.Popen(  # noqa: S603 - our own arguments
                args, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server did not answer PING:\n{tail}")
            time.sleep(0.05)

    def ping(self) -> bool:
        """Whether it answers PING now."""
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock,
        ):
            if self.password:
                sock.sendall(f"AUTH {self.password}\r\n".encode())
                if not sock.recv(64).startswith(b"+OK"):
                    return False
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
        return False

    def freeze(self) -> None:
        """Stop it answering without closing anything (SIGSTOP)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server go on (SIGCONT)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop it (SIGKILL: no goodbye to the clients) and wait for the process."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)  # a frozen one cannot die otherwise
            process.kill()
        process.wait(10)


if __name__ == "__main__":
    print("redis-server:", ensure_redis())
