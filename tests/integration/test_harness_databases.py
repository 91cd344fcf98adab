"""
The harness's databases: installs record what they were built for, PostgreSQL runs and stops
cleanly, and a machine that cannot get PostgreSQL stops the run with a clear message.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import install, postgres
from harness.server import COMPILE_CACHE_NAME, FlowiseServer, HarnessError, free_port


# -- what an install is made for --------------------------------------------------------------


class FakeSteps:
    """Stands in for npm and node: records the steps an install runs, builds nothing."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.loaded: list[str] = []
        self.extra_env: dict[str, object] = {}
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def run_step(self, name: str, args: list[str], *, cwd: Path, **options: object) -> None:
        with self._lock:
            self.steps.append(name)
            self.extra_env[name] = options.get("extra_env")
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            if name.startswith("npm install"):
                time.sleep(0.2)  # long enough for the other installs to start beside it
                run = cwd / "node_modules" / "flowise" / "bin" / "run"
                run.parent.mkdir(parents=True, exist_ok=True)  # npm's second try too
                run.write_text("#!/usr/bin/env node\n")
        finally:
            with self._lock:
                self.running -= 1

    def verify(self, root: Path, version: str, module: str) -> None:
        self.loaded.append(module)


@pytest.fixture
def steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSteps:
    fake = FakeSteps()
    monkeypatch.setenv("FLOWISE_ASYNC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(install, "_run_step", fake.run_step)
    monkeypatch.setattr(install, "_verify_module", fake.verify)
    monkeypatch.setattr(install, "node_dir", lambda version=None: tmp_path / "node")
    monkeypatch.setattr(install, "npm_cli", lambda version=None: tmp_path / "npm-cli.js")
    monkeypatch.setattr(install, "_check_tools", lambda: None)
    return fake


def _marker(root: Path) -> dict[str, object]:
    return dict(json.loads((root / install.MARKER_NAME).read_text()))


def test_an_install_for_postgres_only_skips_the_sqlite3_build(steps: FakeSteps) -> None:
    """PostgreSQL needs nothing compiled: npm install, a check that `pg` loads, the record."""
    root = install.ensure_installed(version="2.2.8", databases=("postgres",))

    assert steps.steps == ["npm install (flowise@2.2.8, from its lock)"]
    assert steps.loaded == ["pg"]
    assert _marker(root)["databases"] == ["postgres"]
    assert install.installed_databases(root) == {"postgres"}
    assert install.is_installed(root, database="postgres")
    assert not install.is_installed(root, database="sqlite")


def test_an_install_gives_npm_every_tarballs_address(
    steps: FakeSteps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock npm installs from names each tarball on the registry npm is set to use."""
    monkeypatch.setattr(install, "npm_registry", lambda version=None: "https://mirror.test/")
    root = install.ensure_installed(version="2.2.8", databases=("postgres",))

    written = json.loads((root / "package-lock.json").read_text())["packages"]
    committed = json.loads((install.line("2.2.8").lock_dir / "package-lock.json").read_text())
    assert written.keys() == committed["packages"].keys()
    assert written["node_modules/flowise"]["resolved"] == (
        "https://mirror.test/flowise/-/flowise-2.2.8.tgz"
    )
    assert all("resolved" in entry for key, entry in written.items() if key)


def test_npm_says_which_registry_it_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real npm of the 3.1.4 line reads ``npm_config_registry`` (as it reads .npmrc)."""
    monkeypatch.setenv("npm_config_registry", "https://mirror.test/npm/")
    assert install.npm_registry("3.1.4") == "https://mirror.test/npm/"


def test_asking_a_postgres_install_for_sqlite_builds_sqlite3_once(steps: FakeSteps) -> None:
    """The missing database is added to the same install, never a reinstall, and recorded."""
    root = install.ensure_installed(version="3.1.4", databases=("postgres",))
    steps.steps.clear()

    again = install.ensure_installed(version="3.1.4", databases=("sqlite",))

    assert again == root
    assert steps.steps == ["npm rebuild sqlite3"]
    assert steps.extra_env["npm rebuild sqlite3"] == {"CFLAGS": "-O1", "CXXFLAGS": "-O1"}
    assert steps.loaded[-1] == "sqlite3"
    assert _marker(root)["databases"] == ["postgres", "sqlite"]
    steps.steps.clear()
    install.ensure_installed(version="3.1.4", databases=("postgres", "sqlite"))
    assert steps.steps == []  # both recorded: nothing left to do


def test_the_default_install_is_for_sqlite(steps: FakeSteps) -> None:
    """Flowise's own default (and the demo's): sqlite3 is compiled."""
    root = install.ensure_installed(version="3.1.4")

    assert steps.steps == ["npm install (flowise@3.1.4, from its lock)", "npm rebuild sqlite3"]
    assert _marker(root)["databases"] == ["sqlite"]


def test_install_command_installs_the_lines_at_once_and_compiles_sqlite3(
    steps: FakeSteps, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """
    ``--all --database postgres --also-sqlite 3.1.4`` (what ``nox -s tests`` runs): 3.1.4
    installs first and alone, then the other lines at once (sharing its packages), every one
    for PostgreSQL, and 3.1.4's sqlite3 builds beside them.
    """
    monkeypatch.setattr(postgres, "ensure_postgres", lambda: tmp_path / "pg-bin")
    running_at_start: dict[str, int] = {}
    record = steps.run_step

    def run_step(name: str, args: list[str], *, cwd: Path, **kw: object) -> None:
        running_at_start[f"{name} {cwd.name}"] = steps.running
        record(name, args, cwd=cwd, **kw)

    monkeypatch.setattr(install, "_run_step", run_step)

    code = install.main(["--all", "--database", "postgres", "--also-sqlite", "3.1.4"])

    assert code == 0
    assert steps.steps[0] == "npm install (flowise@3.1.4, from its lock)"
    assert running_at_start[f"{steps.steps[0]} {install.install_dir('3.1.4').name}"] == 0
    assert steps.most_at_once >= len(install.LINES) - 1  # the others at once
    assert sorted(steps.steps) == sorted(
        [f"npm install (flowise@{v}, from its lock)" for v in install.LINES]
        + ["npm rebuild sqlite3"]
    )
    assert steps.steps.index("npm rebuild sqlite3") > steps.steps.index(
        "npm install (flowise@3.1.4, from its lock)"
    )
    recorded = {v: _marker(install.install_dir(v))["databases"] for v in install.LINES}
    assert recorded == {
        "2.2.8": ["postgres"],
        "3.0.13": ["postgres"],
        "3.1.4": ["postgres", "sqlite"],
    }


def test_install_command_with_one_job_installs_one_line_at_a_time(
    steps: FakeSteps, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``--jobs 1``: one after the other, the one that compiles first."""
    monkeypatch.setattr(postgres, "ensure_postgres", lambda: tmp_path / "pg-bin")

    args = ["--all", "--database", "postgres", "--also-sqlite", "3.1.4", "--jobs", "1"]
    assert install.main(args) == 0

    assert steps.most_at_once == 1
    assert steps.steps[:2] == ["npm install (flowise@3.1.4, from its lock)", "npm rebuild sqlite3"]
    assert len(steps.steps) == len(install.LINES) + 1


def test_a_failed_line_fails_the_install_command(
    steps: FakeSteps, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(postgres, "ensure_postgres", lambda: tmp_path / "pg-bin")
    record = steps.run_step

    def failing(name: str, args: list[str], *, cwd: Path, **kw: object) -> None:
        record(name, args, cwd=cwd, **kw)
        if "3.0.13" in name:
            raise install.InstallError(f"{name} failed with exit code 1")

    monkeypatch.setattr(install, "_run_step", failing)
    assert install.main(["--all", "--database", "postgres"]) == 1
    assert not (install.install_dir("3.0.13") / install.MARKER_NAME).exists()


def test_installs_from_before_the_record_serve_both_databases(tmp_path: Path) -> None:
    """They always compiled sqlite3, and PostgreSQL needs nothing more."""
    root = tmp_path / "flowise"
    assert install.installed_databases(root) == frozenset()
    root.mkdir()
    (root / install.MARKER_NAME).write_text(json.dumps({"flowise": "3.1.4", "seconds": 600}))
    assert install.installed_databases(root) == {"postgres", "sqlite"}


def test_an_unknown_database_is_refused(steps: FakeSteps) -> None:
    with pytest.raises(install.InstallError, match="unknown database"):
        install.ensure_installed(version="3.1.4", databases=("mysql",))
    with pytest.raises(HarnessError, match="unknown database"):
        FlowiseServer(database="mysql")
    assert steps.steps == []


# -- what the server is told --------------------------------------------------------------


class _FakePostgres:
    host, port, user = "127.0.0.1", 54321, postgres.DB_USER


@pytest.mark.parametrize("database", ["postgres", "sqlite"])
def test_queue_mode_env_per_database(tmp_path: Path, database: str) -> None:
    """
    Queue mode on PostgreSQL: main and workers get the database's address and no SQLite
    busy-timeout preload; on SQLite, the shared file and the preload.
    """
    server = FlowiseServer(queue=True, workers=2, database=database)
    server.data_dir = tmp_path
    server.redis_port = 6399
    server._postgres = _FakePostgres()  # type: ignore[assignment]
    server._db_name = "flowise"

    env = server._flowise_env(tmp_path, 3000)

    assert env["DATABASE_TYPE"] == database
    assert env["MODE"] == "queue"
    preloaded = "sqlite_busy_timeout.cjs" in env["NODE_OPTIONS"]
    if database == "postgres":
        assert not preloaded
        assert (env["DATABASE_HOST"], env["DATABASE_PORT"]) == ("127.0.0.1", "54321")
        assert (env["DATABASE_USER"], env["DATABASE_NAME"]) == (postgres.DB_USER, "flowise")
        assert "DATABASE_PATH" not in env
    else:
        assert preloaded
        assert env["DATABASE_PATH"] == str(tmp_path)
        assert "DATABASE_HOST" not in env


def test_the_server_is_told_to_keep_its_compile_cache_in_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Node's compile cache lives in the install, whatever the caller's environment says."""
    server = FlowiseServer(database="sqlite")
    server.data_dir = tmp_path / "data"
    root = tmp_path / "install"
    monkeypatch.setenv("NODE_COMPILE_CACHE", str(tmp_path / "elsewhere"))
    env = server._flowise_env(root, 3000)
    assert env["NODE_COMPILE_CACHE"] == str(root / COMPILE_CACHE_NAME)


@pytest.mark.integration
@pytest.mark.lines("3.1.4")
def test_the_default_lines_node_fills_the_compile_cache(flowise_line: str, tmp_path: Path) -> None:
    """
    The Node of 3.1.4 (24) writes the bytecode of the Flowise modules it loads with the
    server's environment into the folder the harness gives it, for the next start to reuse.
    """
    version = install.line(flowise_line).version
    server = FlowiseServer(version=version, database="sqlite")
    server.data_dir = tmp_path / "data"
    root = tmp_path / "install"
    module = install.flowise_package_dir(version=version) / "dist" / "utils" / "index.js"
    assert module.is_file()
    result = subprocess.run(  # noqa: S603 - our own arguments
        [str(install.node_bin(version)), "-e", "require(process.argv[1])", str(module)],
        env=server._flowise_env(root, free_port()),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cached = [path for path in (root / COMPILE_CACHE_NAME).rglob("*") if path.is_file()]
    assert len(cached) > 100, cached


# -- PostgreSQL missing --------------------------------------------------------------------


@pytest.fixture
def no_postgres_no_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without PostgreSQL, where this process is not root and has no sudo."""
    real_which = shutil.which

    def which(name: str, *args: object, **kwargs: object) -> str | None:
        if name in {"sudo", "initdb", "postgres"}:
            return None
        if name == "apt-get":
            return "/usr/bin/apt-get"
        return real_which(name)

    monkeypatch.setattr(postgres, "find_bin_dir", lambda: None)
    monkeypatch.setattr(postgres.shutil, "which", which)
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 1000)

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"ran {args!r}: nothing may be installed here")

    monkeypatch.setattr(postgres.subprocess, "run", no_subprocess)


@pytest.mark.usefixtures("no_postgres_no_root")
def test_missing_postgres_without_root_names_what_is_missing() -> None:
    with pytest.raises(postgres.PostgresMissingError) as caught:
        postgres.ensure_postgres()
    message = str(caught.value)
    assert "initdb, postgres, psql" in message
    assert "not root" in message
    assert "sudo" in message
    assert "apt-get install -y postgresql" in message
    assert "FLOWISE_ASYNC_PG_BIN" in message


@pytest.mark.usefixtures("no_postgres_no_root")
def test_missing_postgres_stops_the_install_command(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m harness.install --database postgres`` fails (exit 1), before any npm step."""
    assert install.main(["--version", "3.1.4", "--database", "postgres"]) == 1
    out = capsys.readouterr().out
    assert "ERROR:" in out
    assert "apt-get install -y postgresql" in out


@pytest.mark.usefixtures("no_postgres_no_root")
def test_missing_postgres_fails_the_server_start_not_skips() -> None:
    server = FlowiseServer(database="postgres")
    server.data_dir = None
    with pytest.raises(HarnessError, match="not root"):
        server._start_postgres()
    server.stop()


# -- PostgreSQL running ---------------------------------------------------------------------


def _uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    return int(line.split()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.mark.integration
def test_postgres_server_runs_on_loopback_and_leaves_nothing_behind() -> None:
    """initdb + postgres in a temporary directory, one database, then stopped and removed."""
    with postgres.PostgresServer() as pg:
        assert pg.pid is not None
        pid, directory = pg.pid, pg.directory
        assert directory is not None
        assert directory.is_dir()
        pg.create_database("flowise_test")
        assert pg.psql("SELECT current_database()", database="flowise_test").strip() == (
            "flowise_test"
        )
        listen = pg.psql("SHOW listen_addresses").strip()
        assert listen == "127.0.0.1"
        uid = _uid_of(pid)
        if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as the postgres user
            assert uid == pwd.getpwnam(postgres.SYSTEM_USER).pw_uid
        else:
            assert uid == os.geteuid()
    assert not _alive(pid)
    assert not directory.exists()
