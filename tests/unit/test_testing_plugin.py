"""The pytest plugin flowise_async.pytest_plugin, enabled the way users enable it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


USER_TESTS = """
from flowise_async import AsyncFlowise
from flowise_async.testing import FakeFlowise


async def test_uses_fixtures(flowise_server: FakeFlowise, flowise_client: AsyncFlowise) -> None:
    flowise_server.answer("flow-1", "Hello", " world")
    prediction = await flowise_client.predictions.create("flow-1", "Hi")
    assert prediction.text == "Hello world"
    assert flowise_server.requests[0].json["question"] == "Hi"


async def test_each_test_gets_a_fresh_server(flowise_server: FakeFlowise) -> None:
    assert flowise_server.requests == []
"""


def test_plugin_fixtures_work_in_a_user_suite(tmp_path: Path) -> None:
    """A user suite with 'pytest_plugins = [...]' gets a fresh fake server and a client."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["flowise_async.pytest_plugin"]\n')
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-W",
            "error",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
