"""The ``flowise-async`` command line, run as a subprocess against a local Flowise look-alike."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowise_async import cli
from flowise_async.testing import FakeFlowise as ScriptedFlowise
from tests._wait import wait_until
from tests.unit._usage_fake import FakeFlowise


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def fake() -> AsyncIterator[FakeFlowise]:
    server = await FakeFlowise(api_key="secret").start()
    yield server
    await server.stop()


def _env(fake: FakeFlowise | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWISE_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if fake is not None:
        env["FLOWISE_BASE_URL"] = fake.base_url
    env.update(extra)
    return env


def _default_sigint() -> None:
    """In the child, before exec: Ctrl-C handling of its own, even when this test run was
    started with SIGINT ignored (as a background job is) and the child would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def start_cli(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "flowise_async",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
        preexec_fn=_default_sigint,
    )


async def run_cli(
    *args: str, fake: FakeFlowise | None, timeout: float = 60, **env: str
) -> tuple[int, str, str]:
    """Run the command line; return (exit code, stdout, stderr)."""
    proc = await start_cli(*args, env=_env(fake, **env))
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def run_cli_merged(*args: str, base_url: str, timeout: float = 60) -> tuple[int, str]:
    """Run the command line with stdout and stderr on one pipe, as on a terminal."""
    env = _env(None, FLOWISE_BASE_URL=base_url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "flowise_async",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def read_jsonl(path: Path) -> list[dict[str, object]]:
    """Every line of *path* as JSON (fails on an invalid line)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_questions(path: Path, items: list[object]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


# -- predict --------------------------------------------------------------------------------


async def test_predict_streams_tokens_as_they_arrive(fake: FakeFlowise) -> None:
    """predict prints the first token long before the answer is complete."""
    proc = await start_cli("predict", "slow~6~250", "q", env=_env(fake))
    assert proc.stdout is not None
    started = time.monotonic()
    first = await asyncio.wait_for(proc.stdout.read(3), 30)
    first_at = time.monotonic() - started
    rest = await asyncio.wait_for(proc.stdout.read(), 30)
    await asyncio.wait_for(proc.wait(), 30)
    done_at = time.monotonic() - started
    assert proc.returncode == 0
    assert (first + rest).decode() == "t0 t1 t2 t3 t4 t5 \n"
    assert done_at - first_at > 0.8  # the later tokens came later
    assert fake.requests[0]["streaming"] is True


async def test_predict_options_reach_the_server(fake: FakeFlowise, tmp_path: Path) -> None:
    """--chat-id, --override and --upload become chatId, overrideConfig and uploads."""
    notes = tmp_path / "notes.txt"
    notes.write_text("some notes", encoding="utf-8")
    code, out, _ = await run_cli(
        "predict",
        "echo",
        "hello world",
        "--chat-id",
        "chat-7",
        "--override",
        "temperature=0.5",
        "--override",
        "sessionId=abc",
        "--upload",
        str(notes),
        fake=fake,
    )
    assert code == 0
    assert out == "echo: hello world\n"
    request = fake.requests[0]
    assert request["chatId"] == "chat-7"
    assert request["overrideConfig"] == {"temperature": 0.5, "sessionId": "abc"}
    assert request["uploads"] == [
        {"data": "some notes", "type": "file:full", "name": "notes.txt", "mime": "text/plain"}
    ]


async def test_predict_json_prints_raw_events(fake: FakeFlowise) -> None:
    """--json prints one JSON object per event, with Flowise's names and payloads."""
    code, out, _ = await run_cli("predict", "echo", "hi", "--json", fake=fake)
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["start", "token", "token", "metadata", "end"]
    assert events[1] == {"event": "token", "data": "echo:"}
    assert events[-1]["data"] == "[DONE]"


async def test_predict_no_stream(fake: FakeFlowise) -> None:
    """--no-stream sends a non-streaming request and prints the answer (or JSON with --json)."""
    code, out, _ = await run_cli("predict", "echo", "hi", "--no-stream", fake=fake)
    assert (code, out) == (0, "echo: hi\n")
    code, out, _ = await run_cli("predict", "echo", "hi", "--no-stream", "--json", fake=fake)
    assert json.loads(out)["text"] == "echo: hi"
    assert [r["streaming"] for r in fake.requests] == [False, False]


async def test_unknown_chatflow_exit_code(fake: FakeFlowise) -> None:
    """An unknown chatflow fails fast with exit code 5 and a message, not a traceback."""
    code, out, err = await run_cli("predict", "missing", "hi", fake=fake, timeout=30)
    assert code == cli.EXIT_NOT_FOUND
    assert "not found" in err
    assert "Traceback" not in err
    assert out == ""


async def test_unreachable_server_exit_code() -> None:
    """An unreachable server gives exit code 3 and says what to check."""
    code, _, err = await run_cli(
        "ping", fake=None, FLOWISE_BASE_URL="http://127.0.0.1:9", timeout=30
    )
    assert code == cli.EXIT_CONNECTION
    assert "cannot connect" in err
    assert "Traceback" not in err


async def test_error_after_partial_output_starts_a_new_line() -> None:
    """A stream that fails after some text ends that line before the error line."""
    async with ScriptedFlowise() as server:
        server.answer("flow", "Par", "is", error="Error: the model is unavailable")
        code, out = await run_cli_merged("predict", "flow", "hi", base_url=server.url)
    assert code == cli.EXIT_FAILED
    assert out.startswith("Paris\nflowise-async: error: ")
    assert "the model is unavailable" in out
    assert out.count("\n") == 2


@pytest.mark.parametrize("mode", [(), ("--no-stream",)])
async def test_a_run_without_an_answer_is_a_failure(mode: tuple[str, ...]) -> None:
    """metadata + end only (a failed queue worker): exit 1 with a message, not an empty 0."""
    async with ScriptedFlowise() as server:
        server.answer("silent")
        code, out, err = await run_cli(
            "predict", "silent", "hi", *mode, fake=None, FLOWISE_BASE_URL=server.url
        )
    assert code == cli.EXIT_FAILED
    assert out == "\n"
    assert "the run ended without an answer" in err
    assert "Traceback" not in err


async def test_usage_is_printed_on_request() -> None:
    """--usage prints the summed usageMetadata to stderr; the answer stays alone on stdout."""
    from flowise_async import events as ev

    usage = [
        ev.UsageMetadataEvent(input_tokens=2, output_tokens=3, total_tokens=5),
        ev.UsageMetadataEvent(input_tokens=1, output_tokens=1, total_tokens=2),
    ]
    async with ScriptedFlowise() as server:
        server.answer("flow", "Hi", events=usage)
        server.answer("plain", "Hi")
        code, out, err = await run_cli(
            "predict", "flow", "q", "--usage", fake=None, FLOWISE_BASE_URL=server.url
        )
        plain = await run_cli(
            "predict", "plain", "q", "--usage", fake=None, FLOWISE_BASE_URL=server.url
        )
    assert (code, out) == (0, "Hi\n")
    assert "usage: 3 input, 4 output, 7 total tokens" in err
    assert plain[0] == 0
    assert "usage: the server reported none" in plain[2]


async def test_timeout_hints_name_the_timeout_option() -> None:
    """A headers or idle timeout says to raise --timeout, not a Python argument."""
    async with ScriptedFlowise(max_stall=10) as server:
        server.answer("unanswered", hang=True)
        server.answer("stalling", "Par", "is", stall_after=2)
        code, out, err = await run_cli(
            "predict",
            "unanswered",
            "hi",
            "--timeout",
            "0.5",
            fake=None,
            FLOWISE_BASE_URL=server.url,
        )
        assert code == cli.EXIT_CONNECTION
        assert out == ""
        assert "no answer within 0.5 s" in err
        assert "--timeout SECONDS" in err
        assert "Timeouts(" not in err
        code, out = await run_cli_merged(
            "--timeout", "0.5", "predict", "stalling", "hi", base_url=server.url
        )
        assert code == cli.EXIT_CONNECTION
        assert out.startswith("Par\nflowise-async: error: no data for 0.5 s")
        assert "--timeout SECONDS" in out
        assert "Timeouts(" not in out


async def test_options_before_the_command(fake: FakeFlowise) -> None:
    """--base-url, --api-key and --timeout are accepted before the command too."""
    code, out, err = await run_cli(
        "--base-url", fake.base_url, "--api-key", "secret", "chatflows", "list", "--json", fake=None
    )
    assert code == 0, err
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["echo", "slow~3~10"]
    code, out, _ = await run_cli(
        "--base-url", fake.base_url, "--timeout", "30", "predict", "echo", "hi", fake=None
    )
    assert (code, out) == (0, "echo: hi\n")
    # After the command, an option wins over the same option before it.
    code, out, _ = await run_cli(
        "--base-url", "http://127.0.0.1:9", "ping", "--base-url", fake.base_url, fake=None
    )
    assert code == 0


def test_help_says_where_the_global_options_go() -> None:
    assert "before or after the command" in cli.build_parser().format_help()


def test_cli_uses_the_public_client_api() -> None:
    """The command line is built on the library's public methods only."""
    source = Path(cli.__file__).read_text(encoding="utf-8")
    assert "_live_transport" not in source
    assert "client._" not in source


# -- chatflows, ping ------------------------------------------------------------------------


async def test_chatflows_list_table_and_auth(fake: FakeFlowise) -> None:
    """chatflows list prints a table with the key, and exits 4 with a wrong key."""
    code, out, err = await run_cli("chatflows", "list", "--api-key", "wrong", fake=fake)
    assert code == cli.EXIT_AUTH
    assert "401" in err
    assert "API key" in err
    assert "--api-key" in err
    assert "FLOWISE_API_KEY" in err
    assert "api_key=" not in err
    assert "Traceback" not in err
    code, out, _ = await run_cli("chatflows", "list", fake=fake, FLOWISE_API_KEY="secret")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "TYPE", "DEPLOYED", "UPDATED"]
    assert lines[1].split()[:4] == ["echo", "Echo", "bot", "CHATFLOW"]
    code, out, _ = await run_cli("chatflows", "list", "--json", fake=fake, FLOWISE_API_KEY="secret")
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["echo", "slow~3~10"]


async def test_ping(fake: FakeFlowise) -> None:
    """ping reports the server and its version."""
    code, out, _ = await run_cli("ping", fake=fake)
    assert code == 0
    assert out.startswith(f"pong from {fake.base_url} (Flowise 3.1.4)")


async def test_no_command_prints_help() -> None:
    """Without a command the usage is printed and the exit code is 2."""
    code, _, err = await run_cli(fake=None)
    assert code == cli.EXIT_USAGE
    assert "predict" in err


# -- batch ----------------------------------------------------------------------------------


async def test_batch_writes_one_answer_per_line(fake: FakeFlowise, tmp_path: Path) -> None:
    """batch answers every input into a JSONL file and logs progress when not on a terminal."""
    questions = write_questions(
        tmp_path / "questions.jsonl",
        ["q0", {"id": "x", "question": "q1", "override_config": {"k": 1}}, "q2", "q3"],
    )
    answers = tmp_path / "answers.jsonl"
    code, _, err = await run_cli(
        "batch", "echo", str(questions), "-o", str(answers), "--concurrency", "2", fake=fake
    )
    assert code == 0, err
    records = read_jsonl(answers)
    assert sorted(r["line"] for r in records) == [1, 2, 3, 4]  # type: ignore[type-var]
    by_line = {r["line"]: r for r in records}
    assert by_line[2]["id"] == "x"
    assert by_line[2]["text"] == "echo: q1"
    assert all(r["ok"] for r in records)
    assert "batch: 4/4 done, 0 failed" in err
    assert "4 answered, 0 failed, 0 skipped" in err
    assert {"k": 1} in [r.get("overrideConfig") for r in fake.requests]


async def test_batch_failures_exit_1(fake: FakeFlowise, tmp_path: Path) -> None:
    """Failed questions are written with their error, and the exit code is 1."""
    questions = write_questions(tmp_path / "q.jsonl", ["fine", "FAIL"])
    answers = tmp_path / "a.jsonl"
    code, _, err = await run_cli("batch", "failing", str(questions), "-o", str(answers), fake=fake)
    assert code == cli.EXIT_FAILED
    failed = [r for r in read_jsonl(answers) if not r["ok"]]
    assert len(failed) == 1
    assert failed[0]["error"]["type"] == "ServerEventError"  # type: ignore[index]
    assert "run the same command again" in err


async def test_batch_resumes(fake: FakeFlowise, tmp_path: Path) -> None:
    """A second run skips answered inputs, retries failed ones and drops a cut-off line."""
    questions = write_questions(tmp_path / "q.jsonl", [f"q{i}" for i in range(5)])
    answers = tmp_path / "a.jsonl"
    answers.write_text(
        json.dumps({"key": "line:1", "line": 1, "ok": True, "text": "old"})
        + "\n"
        + json.dumps({"key": "line:2", "line": 2, "ok": False, "error": {}})
        + "\n"
        + '{"key": "line:3", "li',
        encoding="utf-8",
    )
    code, _, err = await run_cli("batch", "echo", str(questions), "-o", str(answers), fake=fake)
    assert code == 0, err
    records = read_jsonl(answers)
    assert sorted(r["line"] for r in records) == [1, 2, 3, 4, 5]  # type: ignore[type-var]
    assert records[0]["text"] == "old"
    assert sorted(r["question"] for r in fake.requests) == ["q1", "q2", "q3", "q4"]
    assert "resuming: 1 of 5 already answered" in err
    code, _, err = await run_cli("batch", "echo", str(questions), "-o", str(answers), fake=fake)
    assert code == 0
    assert "nothing to do" in err


async def test_batch_rejects_invalid_input(fake: FakeFlowise, tmp_path: Path) -> None:
    """An invalid input line is reported with its line number before anything runs."""
    questions = tmp_path / "q.jsonl"
    questions.write_text('"ok"\n{"question": 1}\nnot json\n', encoding="utf-8")
    code, _, err = await run_cli(
        "batch", "echo", str(questions), "-o", str(tmp_path / "a.jsonl"), fake=fake
    )
    assert code == cli.EXIT_USAGE
    assert f"{questions}:2" in err
    assert f"{questions}:3" in err
    assert fake.requests == []


async def test_batch_unknown_chatflow(fake: FakeFlowise, tmp_path: Path) -> None:
    """A batch on an unknown chatflow stops at once with exit code 5."""
    questions = write_questions(tmp_path / "q.jsonl", ["a"])
    code, _, err = await run_cli(
        "batch", "missing", str(questions), "-o", str(tmp_path / "a.jsonl"), fake=fake
    )
    assert code == cli.EXIT_NOT_FOUND
    assert "Traceback" not in err


async def test_batch_progress_bar(fake: FakeFlowise, tmp_path: Path) -> None:
    """--progress bar draws rich's bar with done/total and the rate."""
    pytest.importorskip("rich", reason="needs the cli extra")
    questions = write_questions(tmp_path / "q.jsonl", ["a", "b", "c"])
    code, _, err = await run_cli(
        "batch",
        "echo",
        str(questions),
        "-o",
        str(tmp_path / "a.jsonl"),
        "--progress",
        "bar",
        fake=fake,
        COLUMNS="120",
    )
    assert code == 0
    assert "3/3" in err
    assert "/s" in err


async def test_sigint_leaves_a_valid_file_and_resume_finishes(
    fake: FakeFlowise, tmp_path: Path
) -> None:
    """Ctrl-C stops a batch promptly, leaves valid JSONL, and a rerun completes the rest."""
    total = 12
    questions = write_questions(tmp_path / "q.jsonl", [f"q{i}" for i in range(total)])
    answers = tmp_path / "a.jsonl"
    args = ("batch", "slow~3~150", str(questions), "-o", str(answers), "--concurrency", "2")
    proc = await start_cli(*args, env=_env(fake))
    await wait_until(
        lambda: answers.exists() and answers.read_text(encoding="utf-8").count("\n") >= 2,
        timeout=30,
        interval=0.05,
        what="two answers written",
    )
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, err_bytes = await asyncio.wait_for(proc.communicate(), 20)
    assert time.monotonic() - started < 5
    err = err_bytes.decode()
    assert proc.returncode == cli.EXIT_INTERRUPTED
    assert "interrupted" in err
    assert "resume" in err
    assert "Traceback" not in err
    first = read_jsonl(answers)
    assert 2 <= len(first) < total
    assert all(r["ok"] for r in first)
    code, _, err = await run_cli(*args, fake=fake)
    assert code == 0, err
    records = read_jsonl(answers)
    assert sorted(r["line"] for r in records) == list(range(1, total + 1))  # type: ignore[type-var]
