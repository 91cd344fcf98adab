"""harness/demo.py pointed at a server it did not start (FLOWISE_BASE_URL): it never creates
anything there, takes the chatflow given or the server's only one, and lists them otherwise."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from flowise_async.testing import FakeFlowise


ROOT = Path(__file__).resolve().parents[2]


async def run_demo(server: FakeFlowise, *args: str, **env: str) -> tuple[int, str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOWISE_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    environ.update(FLOWISE_BASE_URL=server.url, **env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "harness.demo",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _writes(server: FakeFlowise) -> list[str]:
    """Requests that would change something on a server (any but reads and predictions)."""
    return [
        f"{r.method} {r.path}"
        for r in server.requests
        if r.method != "GET" and not r.path.startswith("/api/v1/prediction/")
    ]


async def test_only_chatflow_is_taken() -> None:
    async with FakeFlowise(api_key="key-1") as server:
        server.answer("the-flow", "Hello", " there")
        code, out, err = await run_demo(server, "Hi?", FLOWISE_API_KEY="key-1")
    assert code == 0, err
    assert "using chatflow the-flow" in out
    assert "Hello there" in out
    assert [r.chatflow_id for r in server.predictions] == ["the-flow"]
    assert _writes(server) == []


async def test_several_chatflows_are_listed_to_choose_from() -> None:
    async with FakeFlowise() as server:
        server.answer("flow-a", "A")
        server.answer("flow-b", "B")
        code, out, err = await run_demo(server)
        assert code == 2
        assert "flow-a" in err
        assert "flow-b" in err
        assert "--chatflow-id" in err
        assert server.predictions == []
        code, out, err = await run_demo(server, "--chatflow-id", "flow-b")
        assert code == 0, err
        assert "answer:   B" in out
        code, out, err = await run_demo(server, FLOWISE_CHATFLOW_ID="flow-a")
        assert code == 0, err
        assert "answer:   A" in out
    assert [r.chatflow_id for r in server.predictions] == ["flow-b", "flow-a"]
    assert _writes(server) == []


async def test_no_chatflow_says_to_create_one() -> None:
    async with FakeFlowise() as server:
        code, _, err = await run_demo(server)
    assert code == 2
    assert "has 0 chatflows" in err
    assert "create one in the Flowise UI" in err
    assert _writes(server) == []


async def test_refused_key_names_the_variable() -> None:
    async with FakeFlowise(api_key="key-1") as server:
        server.answer("the-flow", "Hello")
        code, _, err = await run_demo(server, FLOWISE_API_KEY="wrong")
    assert code == 4
    assert "FLOWISE_API_KEY" in err
    assert "Traceback" not in err
