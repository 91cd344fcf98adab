"""Every ```python block of the documentation runs, against the fake server of flowise_async.testing.

Pages are Markdown under docs/. Each ```python fence is executed, in page order, in one
namespace per page; top-level ``await`` is allowed. Blocks run in a worker thread with their own
event loop (so ``asyncio.run(main())`` works) while the fake server runs in the test's loop.
``http://localhost:3000`` in a block is replaced by the fake server's URL. Every chatflow answers
a short text, unless an HTML comment ``<!-- fake-server: <python> -->`` before a block scripts
the server (``server``, ``ANY_CHATFLOW``, ``flowise_async.events`` as ``ev``,
``flowise_async.models`` as ``models``, and ``setenv(name, value)`` for the ids an example reads
from the environment are in scope). Code that must not run is written as a ``{code-block} python``
directive instead. Blocks run in a temporary working directory.

The pages of docs/api/ call REST endpoints the fake server does not implement (chatflows, document
stores, credentials ...) and read ids from the environment: they are not run here, except the
executions page, whose routes the fake serves for its agent flows.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from flowise_async import events as ev
from flowise_async import models
from flowise_async.testing import ANY_CHATFLOW, FakeFlowise


ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), DOCS / "api" / "executions.md"]
_SETUP = re.compile(r"<!--\s*fake-server:(?P<code>.*?)-->", re.DOTALL)
DEFAULT_TOKENS = ("Flowise", " is", " a", " low-code", " LLM", " app", " builder.")


@attrs.frozen
class Block:
    """One runnable code block of a page, with the server script that precedes it."""

    page: Path
    line: int
    source: str
    setup: str | None


def blocks_of(page: Path) -> list[Block]:
    """Return the ```python blocks of *page*, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    setup: str | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith("<!--"):
            end = index
            while "-->" not in lines[end]:
                end += 1
            match = _SETUP.search("\n".join(lines[index : end + 1]))
            if match:
                setup = match.group("code").strip()
            index = end + 1
            continue
        if line.strip() == "```python":
            start = index + 1
            end = start
            while lines[end].strip() != "```":
                end += 1
            blocks.append(Block(page, start + 1, "\n".join(lines[start:end]) + "\n", setup))
            setup = None
            index = end + 1
            continue
        index += 1
    return blocks


def _run(block: Block, source: str, namespace: dict[str, Any]) -> None:
    """Execute one block (in a worker thread, with its own event loop if it awaits)."""
    filename = f"{block.page.relative_to(ROOT)}:{block.line}"
    code = compile(source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))  # noqa: S307 - documentation code, ours
    else:
        exec(code, namespace)  # noqa: S102


RUNNABLE = [page for page in PAGES if blocks_of(page)]


def test_pages_with_examples_are_found() -> None:
    """The runner finds the guide's pages and their examples (a broken parser finds none)."""
    names = {page.name for page in RUNNABLE}
    assert {"getting-started.md", "streaming.md", "testing.md", "migration.md"} <= names
    assert {"agentflows.md", "executions.md"} <= names  # agent flows run on the fake too
    assert sum(len(blocks_of(page)) for page in RUNNABLE) >= 15


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: str(p.relative_to(DOCS)))
async def test_page_examples_run(
    page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every ```python block of the page runs without error against the fake server."""
    monkeypatch.delenv("FLOWISE_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    async with FakeFlowise(max_stall=10) as server:
        monkeypatch.setenv("FLOWISE_BASE_URL", server.url)
        for block in blocks_of(page):
            server.reset()
            if block.setup is None:
                server.answer(ANY_CHATFLOW, *DEFAULT_TOKENS)
            else:
                scope = {
                    "server": server,
                    "ANY_CHATFLOW": ANY_CHATFLOW,
                    "ev": ev,
                    "models": models,
                    "setenv": monkeypatch.setenv,
                }
                exec(block.setup, scope)  # noqa: S102 - the page's own server script
            source = block.source.replace("http://localhost:3000", server.url)
            await asyncio.wait_for(asyncio.to_thread(_run, block, source, namespace), 60)


_PYTHON_FENCE = re.compile(r"^(?P<indent> *)```(?:python|py|\{code-block\} (?:python|py))\s*$")


def copyable_blocks(page: Path) -> list[tuple[int, str]]:
    """
    Every Python block a reader can copy from *page*, with its first line: the ```python fences
    the runner above executes and the ```{code-block} python ones it does not.
    """
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[tuple[int, str]] = []
    index = 0
    while index < len(lines):
        match = _PYTHON_FENCE.match(lines[index])
        index += 1
        if match is None:
            continue
        start = index
        while start < len(lines) and lines[start].lstrip().startswith(":"):
            start += 1  # the directive's options (:caption: ...)
        end = start
        while lines[end].strip() != "```":
            end += 1
        found.append((start + 1, "\n".join(lines[start:end]) + "\n"))
        index = end + 1
    return found


COPYABLE = sorted([*DOCS.glob("*.md"), *DOCS.glob("api/*.md")])


def test_copyable_blocks_are_found() -> None:
    """The finder sees both kinds of block, on the guide pages and the API pages."""
    found = {page.relative_to(DOCS).as_posix(): copyable_blocks(page) for page in COPYABLE}
    assert len(found["testing.md"]) == len(blocks_of(DOCS / "testing.md"))
    assert len(found["openai-gateway.md"]) > len(blocks_of(DOCS / "openai-gateway.md"))
    assert any(found[name] for name in found if name.startswith("api/"))


@pytest.mark.parametrize("page", COPYABLE, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_every_block_compiles_as_a_module_of_its_own(page: Path) -> None:
    """
    Each Python block, saved alone as a ``.py`` file, is valid Python: no top-level ``await``,
    ``async with`` or ``async for`` (which only the runner above, and a REPL, accept).
    """
    errors = []
    for line, source in copyable_blocks(page):
        try:
            compile(source, f"{page.relative_to(ROOT)}:{line}", "exec", dont_inherit=True)
        except SyntaxError as exc:
            errors.append(f"{exc.filename}, line {exc.lineno} of the block: {exc.msg}")
    assert not errors, "\n".join(errors)


_INCLUDE = re.compile(r"^```\{literalinclude\}\s+(?P<path>\S+)\s*$", re.MULTILINE)


def shown_files(page: Path) -> list[Path]:
    """The files a page shows with ``{literalinclude}``, in page order."""
    return [page.parent / match.group("path") for match in _INCLUDE.finditer(page.read_text())]


def test_testing_page_shows_every_file_of_its_example() -> None:
    """The testing page shows each file of docs/examples/testing, the pytest config among them."""
    suite = DOCS / "examples" / "testing"
    shown = {path.resolve() for path in shown_files(DOCS / "testing.md")}
    files = {path.resolve() for path in suite.iterdir() if path.is_file()}
    assert shown == files
    assert (suite / "pytest.ini").resolve() in shown


def test_example_test_suite_passes_as_shown(tmp_path: Path) -> None:
    """The files the testing page shows, copied alone into an empty directory, pass pytest."""
    for path in shown_files(DOCS / "testing.md"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b4 passed\b", result.stdout), result.stdout


async def test_consumed_stream_behaves_as_the_errors_page_says() -> None:
    """
    docs/errors.md: an ended stream yields nothing more (and final() still answers); entering
    a stream twice raises ClientStateError.
    """
    from flowise_async import ClientStateError

    page = " ".join((DOCS / "errors.md").read_text(encoding="utf-8").split())
    assert "a stream entered twice" in page
    assert "like any exhausted iterator it yields nothing more" in page
    async with FakeFlowise() as server:
        server.answer("flow", "Hel", "lo")
        async with server.client() as flowise:
            stream = flowise.predictions.stream("flow", "Hi")
            async with stream:
                assert [text async for text in stream.text_stream()] == ["Hel", "lo"]
                assert [event async for event in stream] == []
                assert (await stream.final()).text == "Hello"
            with pytest.raises(ClientStateError):
                async with stream:
                    pass


def test_readme_streaming_example_is_short_and_ends_its_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """README's "Streaming in ten lines" runs, is about ten lines, and ends with a newline."""
    (block,) = blocks_of(ROOT / "README.md")
    code_lines = [line for line in block.source.splitlines() if line.strip()]
    assert len(code_lines) <= 11

    async def run() -> None:
        async with FakeFlowise() as server:
            server.answer(ANY_CHATFLOW, *DEFAULT_TOKENS)
            source = block.source.replace("http://localhost:3000", server.url)
            await asyncio.wait_for(asyncio.to_thread(_run, block, source, {}), 60)

    asyncio.run(run())
    assert capsys.readouterr().out == "".join(DEFAULT_TOKENS) + "\n"
