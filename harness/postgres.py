"""
A throwaway PostgreSQL server for the real Flowise servers of the test harness.

Production Flowise runs on PostgreSQL, and queue mode (a main server and several workers) needs
a database that several processes share. ``PostgresServer`` runs Debian's PostgreSQL on
127.0.0.1, on a free port, with its data and its socket in a temporary directory: ``initdb``
with ``trust`` authentication, then ``postgres``, then one database per Flowise server with
`PostgresServer.create_database`. PostgreSQL refuses to run as root: where the harness runs as
root, both run as the ``postgres`` user (which Debian's package creates) in a directory that
user owns. ``stop`` ends the server (SIGTERM, then SIGKILL, bounded) and removes its data.

`ensure_postgres` finds the server's programs (``initdb``, ``postgres``, ``psql``) and installs
Debian's ``postgresql`` package with ``apt-get`` where they are missing (as root, or through
``sudo -n``); where that is impossible it raises `PostgresMissingError` naming what is missing
and how to get it. ``python -m harness.postgres`` does the same from the command line.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from harness import apt, install


PROGRAMS = ("initdb", "postgres", "psql")
PACKAGE = "postgresql"
SYSTEM_USER = "postgres"
"""Who runs the server when the harness runs as root (PostgreSQL refuses root)."""
DB_USER = "flowise"
"""The superuser ``initdb`` creates; Flowise connects as this user, without a password."""
START_TIMEOUT = float(os.environ.get("FLOWISE_ASYNC_PG_START_TIMEOUT", "60"))
STOP_TIMEOUT = 15.0
APT_TIMEOUT = 900.0

# Test data is thrown away: durability settings only cost time on a loaded machine.
SERVER_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",  # queue mode: main and workers each hold a pool
)


class PostgresError(RuntimeError):
    """The PostgreSQL server could not be set up, started or stopped."""


class PostgresMissingError(PostgresError):
    """PostgreSQL is not installed and cannot be installed from here."""


def _log(message: str) -> None:
    print(f"[harness.postgres] {message}", file=sys.stderr, flush=True)


def _candidate_dirs() -> list[Path]:
    """Where the programs may live, best first: ``$FLOWISE_ASYNC_PG_BIN``, Debian's, ``PATH``."""
    dirs: list[Path] = []
    configured = os.environ.get("FLOWISE_ASYNC_PG_BIN")
    if configured:
        dirs.append(Path(configured))
    # Debian keeps the server's programs off PATH, one directory per major version.
    debian = Path("/usr/lib/postgresql")
    with contextlib.suppress(OSError):
        majors = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()),
            key=lambda p: int(p.name),
            reverse=True,
        )
        dirs.extend(major / "bin" for major in majors)
    for name in ("initdb", "postgres"):
        found = shutil.which(name)
        if found:
            dirs.append(Path(found).resolve().parent)
    return dirs


def find_bin_dir() -> Path | None:
    """Return the directory that holds ``initdb``, ``postgres`` and ``psql``, or ``None``."""
    for directory in _candidate_dirs():
        if all(_executable(directory / name) for name in PROGRAMS):
            return directory
    return None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def missing_message(reason: str) -> str:
    """The message of `PostgresMissingError`: what is missing, why, and what to do."""
    return (
        "the real Flowise servers of the tests run on PostgreSQL, but its server programs "
        f"({', '.join(PROGRAMS)}) were not found (looked in $FLOWISE_ASYNC_PG_BIN, "
        f"/usr/lib/postgresql/*/bin and PATH), and {reason}. Install it once with "
        f"'sudo apt-get install -y {PACKAGE}' (Debian/Ubuntu), or set FLOWISE_ASYNC_PG_BIN to "
        "the directory that holds initdb and postgres."
    )


def ensure_postgres() -> Path:
    """
    Return the directory of PostgreSQL's server programs; install Debian's ``postgresql``
    package with ``apt-get`` where they are missing.

    Raises:
        PostgresMissingError: they are missing and cannot be installed here (no ``apt-get``,
            not root and no password-less ``sudo``), or the install did not provide them.
    """
    found = find_bin_dir()
    if found is not None:
        return found
    try:
        seconds = apt.install(PACKAGE, timeout=APT_TIMEOUT, log=_log)
    except apt.AptError as exc:
        raise PostgresMissingError(missing_message(str(exc))) from exc
    found = find_bin_dir()
    if found is None:
        raise PostgresMissingError(missing_message(f"'apt-get install {PACKAGE}' did not add them"))
    _log(f"{PACKAGE} installed in {seconds:.0f} s ({found})")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


class PostgresServer:
    """
    One PostgreSQL server on 127.0.0.1 in a temporary directory, for one harness run.

    ``with PostgresServer() as pg:`` starts it; ``pg.create_database("flowise")`` adds a
    database; ``pg.host``, ``pg.port`` and ``pg.user`` are what a client connects with (no
    password: ``trust`` authentication, reachable from 127.0.0.1 only).
    """

    host = "127.0.0.1"
    user = DB_USER

    def __init__(self) -> None:
        self.port = 0
        self.directory: Path | None = None
        self._bin: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._run_as: str | None = None

    def __enter__(self) -> PostgresServer:
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

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's (postmaster's) process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; on failure the caller must call `stop`."""
        self._bin = ensure_postgres()
        self._run_as = SYSTEM_USER if os.geteuid() == 0 else None
        self.directory = Path(tempfile.mkdtemp(prefix="flowise-async-pg-", dir=self._parent()))
        data = self.directory / "data"
        data.mkdir()
        if self._run_as is not None:
            try:
                account = pwd.getpwnam(self._run_as)
            except KeyError as exc:
                raise PostgresError(
                    f"running as root, but there is no {self._run_as!r} user to run PostgreSQL "
                    f"as (Debian's {PACKAGE} package creates it)"
                ) from exc
            for path in (self.directory, data):
                os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(data, 0o700)
        started = time.monotonic()
        self._run(
            "initdb",
            [
                str(self._bin / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                DB_USER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",  # a throwaway cluster: no fsync of the new files
            ],
            timeout=120,
        )
        self.port = _free_port()
        log_path = self.directory / "postgres.log"
        settings = [arg for setting in SERVER_SETTINGS for arg in ("-c", setting)]
        with log_path.open("wb") as out:
            if self._run_as is not None:
                account = pwd.getpwnam(self._run_as)
                os.chown(log_path, account.pw_uid, account.pw_gid)
            self._proc = subprocess.Popen(
                [
                    str(self._bin / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.directory),
                    "-c",
                    f"listen_addresses={self.host}",
                    *settings,
                ],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self._run_as,
                group=self._group(),
                extra_groups=[] if self._run_as else None,
                preexec_fn=install.die_with_parent,  # noqa: PLW1509 (async-signal-safe: one syscall)
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if not self.running:
                raise PostgresError(
                    f"postgres exited with code {self._proc.returncode} before it was ready:\n"
                    f"{_tail(log_path)}"
                )
            if self._ready():
                break
            if time.monotonic() > deadline:
                raise PostgresError(
                    f"postgres did not accept connections within {START_TIMEOUT:.0f} s:\n"
                    f"{_tail(log_path)}"
                )
            time.sleep(0.2)
        _log(
            f"PostgreSQL is up on {self.host}:{self.port} after "
            f"{time.monotonic() - started:.1f} s (data in {self.directory})"
        )
        return self

    def create_database(self, name: str) -> str:
        """Create the database *name* (letters, digits, ``_``); return its name."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise PostgresError(f"not a plain database name: {name!r}")
        self.psql(f"CREATE DATABASE {name}")
        return name

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run one SQL command with ``psql`` over TCP; return its unaligned output."""
        if self._bin is None or not self.running:
            raise PostgresError("the PostgreSQL server is not running")
        return self._run(
            "psql",
            [
                str(self._bin / "psql"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                DB_USER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-A",
                "-t",
                "-c",
                sql,
            ],
            timeout=60,
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown, then SIGKILL; bounded) and remove its data."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None and proc.poll() is None:
                # SIGINT is PostgreSQL's "fast" shutdown: end the sessions, then exit.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    _log(f"postgres (pid {proc.pid}) ignored SIGINT for {STOP_TIMEOUT:.0f} s")
            if proc is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired as exc:
                    raise PostgresError(f"postgres (pid {proc.pid}) survived SIGKILL") from exc
        finally:
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.directory = None

    # -- helpers --------------------------------------------------------------------------

    def _parent(self) -> str | None:
        """
        The temporary directory's parent: the usual one, unless the ``postgres`` user could not
        reach into it (a ``TMPDIR`` inside root's home), then ``/tmp``.
        """
        base = Path(tempfile.gettempdir()).resolve()
        if self._run_as is None:
            return None
        for path in (base, *base.parents):
            if not path.stat().st_mode & 0o001:  # others may not traverse it
                return "/tmp"  # a private directory is created inside it
        return str(base)

    def _group(self) -> int | None:
        if self._run_as is None:
            return None
        return pwd.getpwnam(self._run_as).pw_gid

    def _run(self, name: str, args: list[str], *, timeout: float) -> str:
        try:
            result = subprocess.run(
                args,
                cwd=self.directory,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                user=self._run_as,
                group=self._group(),
                extra_groups=[] if self._run_as else None,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"{name} did not finish within {timeout:.0f} s") from exc
        if result.returncode != 0:
            raise PostgresError(
                f"{name} failed with exit code {result.returncode}:\n"
                f"{(result.stderr or result.stdout)[-2000:]}"
            )
        return result.stdout

    def _ready(self) -> bool:
        assert self._bin is not None
        try:
            result = subprocess.run(
                [
                    str(self._bin / "psql"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    DB_USER,
                    "-d",
                    "postgres",
                    "-X",
                    "-A",
                    "-t",
                    "-c",
                    "SELECT 1",
                ],
                capture_output=True,
                text=True,
                timeout=10,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0 and result.stdout.strip() == "1"


def main() -> int:
    """``python -m harness.postgres``: make sure PostgreSQL is installed; print where."""
    try:
        print(f"PostgreSQL: {ensure_postgres()}", flush=True)
    except PostgresMissingError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
