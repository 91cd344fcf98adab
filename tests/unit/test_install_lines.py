"""
Every ``pip install`` a reader sees names something that installs.

flowise_async is not on PyPI: the docs, the README and the package's own texts (docstrings,
``ImportError`` hints) install it from a clone (``python -m pip install "./flowise_async[x]"``,
``.`` or ``-e .`` inside the clone, a built wheel in ``dist/``) or from its git URL. Any other
package they name must be one pyproject.toml declares (so its name is checked by our own
installs), or nox, which the README installs first to run everything else.

A command is read from ``pip install`` to the end of its line (or to a closing backtick):
keep each on one line.
"""

from __future__ import annotations

import ast
import re
import shlex
import tomllib
from pathlib import Path

import attrs
import pytest


ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]["name"]  # flowise-async
EXTRAS = set(PYPROJECT["project"]["optional-dependencies"])
REPO_URL = PYPROJECT["project"]["urls"]["Source"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
# The README's commands install it (with uv, its fast environments); it runs every other task.
BOOTSTRAP = {"nox": {"uv"}}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    """The distribution names pyproject.toml declares, in any dependency list."""
    specs = list(PYPROJECT["project"]["dependencies"])
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        specs.extend(extra)
    specs.extend(PYPROJECT["build-system"]["requires"])
    names = set()
    for spec in specs:
        match = _NAME.match(spec)
        assert match, spec
        names.add(_normal(match.group(0)))
    return names


DECLARED = _declared()


@attrs.frozen
class Install:
    """One ``pip install`` command found in a file."""

    where: str
    command: str


def _commands_in(text: str, where: str) -> list[Install]:
    found = []
    for match in re.finditer(r"pip install\b", text):
        rest = text[match.end() :].split("\n", 1)[0]
        rest = rest.split("`", 1)[0]
        found.append(Install(where, "pip install" + rest.rstrip()))
    return found


def _strings_of(path: Path) -> list[tuple[int, str]]:
    """The string constants of a Python file (docstrings and messages), with their lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _reader_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for top in ("docs", "flowise_async", "examples"):
        for path in sorted((ROOT / top).rglob("*")):
            if (
                path.suffix in {".md", ".py", ".txt", ".ini", ".toml"}
                and "_build" not in path.parts
            ):
                files.append(path)
    return files


def all_installs() -> list[Install]:
    """Every ``pip install`` of the README, the docs, the examples and the package."""
    found: list[Install] = []
    for path in _reader_files():
        name = str(path.relative_to(ROOT))
        if path.suffix == ".py":
            for line, value in _strings_of(path):
                found.extend(_commands_in(value, f"{name}:{line}"))
        else:
            found.extend(_commands_in(path.read_text(encoding="utf-8"), name))
    return found


def _extras_ok(target: str, known: set[str]) -> str | None:
    match = re.search(r"\[([^\]]*)\]$", target)
    if match is None:
        return None
    unknown = {extra.strip() for extra in match.group(1).split(",")} - known
    return f"unknown extra(s) {sorted(unknown)}" if unknown else None


def problem(command: str) -> str | None:
    """Why *command* cannot install as written from a clone, or None when it can."""
    try:
        words = shlex.split(command.removeprefix("pip install"))
    except ValueError as exc:
        return f"not a shell command: {exc}"
    targets = []
    for word in words:
        if word in {"&&", ";", "|"} or word.startswith("#"):
            break
        if word.startswith("-"):
            if word in {"-e", "--editable", "--quiet", "-q", "--upgrade", "-U", "--pre"}:
                continue
            return f"unexpected option {word}"
        targets.append(word)
    if not targets:
        return "installs nothing (is the command split over two lines?)"
    for target in targets:
        base = re.sub(r"\[[^\]]*\]$", "", target)
        known = EXTRAS
        if base.startswith(("git+https://", "https://")) or " @ " in target:
            if REPO_URL.removeprefix("https://") not in target:
                return f"{target}: not this project's repository"
        elif base in {".", "./flowise_async"} or re.fullmatch(
            r"dist/flowise_async-[^/]*\.whl", base
        ):
            pass  # the clone (from inside it, or from the folder holding it), or its wheel
        elif base.startswith(("./", "../", "/")):
            return f"{target}: a path that is not the clone"
        else:
            match = _NAME.match(base)
            name = _normal(match.group(0)) if match else base
            if name == _normal(PROJECT):
                return f"{target}: {PROJECT} is not on PyPI; install it from the clone"
            if name not in DECLARED | BOOTSTRAP.keys():
                return f"{target}: not a package pyproject.toml declares"
            known = BOOTSTRAP.get(name, set())  # a dependency's extras are its own
        extras = _extras_ok(target.split(" @ ")[0], known)
        if extras:
            return f"{target}: {extras}"
    return None


def test_the_finder_sees_the_install_lines() -> None:
    """The README, the guide pages and the package's messages all have install lines."""
    wheres = {install.where.split(":")[0] for install in all_installs()}
    assert {"README.md", "docs/getting-started.md", "docs/fastapi.md", "docs/cli.md"} <= wheres
    assert any(where.startswith("flowise_async/") for where in wheres)


@pytest.mark.parametrize(
    ("command", "ok"),
    [
        ('pip install "flowise-async[fastapi]"', False),
        ("pip install flowise_async", False),
        ('pip install "./flowise_async[nope]"', False),
        ("pip install", False),
        ("pip install not-a-dependency-of-ours", False),
        ("pip install ./elsewhere", False),
        ('python -m pip install "./flowise_async[fastapi,otel]"', True),
        ("pip install -e .", True),
        ("pip install dist/flowise_async-*.whl", True),
        ("pip install pytest pytest-asyncio", True),
        ("pip install --quiet --upgrade nox && python3 -m nox", True),
        ("pip install --quiet --upgrade 'nox[uv]' && python3 -m nox", True),
        ("pip install 'nox[nope]'", False),
        (f'pip install "flowise-async[otel] @ git+{REPO_URL}.git"', True),
    ],
)
def test_the_check_tells_installable_from_not(command: str, ok: bool) -> None:
    """The check itself: PyPI names of this project, unknown extras and empty commands fail."""
    command = command[command.index("pip install") :]
    assert (problem(command) is None) is ok, problem(command)


def test_every_install_line_installs_from_a_clone() -> None:
    """No text tells a reader to pip-install something that is not there."""
    bad = [
        f"{install.where}: {install.command!r}: {reason}"
        for install in all_installs()
        if (reason := problem(install.command)) is not None
    ]
    assert not bad, "\n".join(bad)
