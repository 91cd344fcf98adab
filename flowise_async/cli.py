"""
The ``flowise-async`` command line (also ``python -m flowise_async``).

Commands: ``predict`` (stream an answer to the terminal), ``batch`` (a JSONL file of questions
to a JSONL file of answers, resumable), ``chatflows list``, ``ping`` and ``serve-openai`` (an
OpenAI-compatible gateway). The server and key come
from ``--base-url`` / ``--api-key`` or ``FLOWISE_BASE_URL`` / ``FLOWISE_API_KEY``.

Exit codes: 0 success, 1 a failure (some batch items failed, the server failed a run or
ended it without an answer),
2 wrong usage or input file, 3 server unreachable or timed out, 4 API key refused,
5 unknown chatflow (or other object), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mimetypes
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import suppress as _suppress
from pathlib import Path
from typing import Any, TextIO

from ._batch import BatchProgress, BatchResult, PredictionRequest
from ._client import AsyncFlowise
from ._config import Limits, Timeouts
from ._convert import unstructure
from ._event_table import encode_event
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    FlowiseError,
    NotFoundError,
    PermissionDeniedError,
    UnexpectedContentError,
)
from ._gateway_cli import add_serve_openai
from ._interactive import answer_waiting_run
from .events import TokenEvent
from .models._prediction import Prediction, RunStatus
from .models._request import Upload


__all__ = ["main", "run"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_AUTH = 4
EXIT_NOT_FOUND = 5
EXIT_INTERRUPTED = 130

PROG = "flowise-async"


class UsageError(Exception):
    """A mistake of the user that a message explains (exit code 2)."""


# -- entry points ---------------------------------------------------------------------------


def run() -> None:
    """The console script: run `main` and exit with its code."""
    sys.exit(main())


def main(argv: Sequence[str] | None = None) -> int:
    """Parse *argv* (default: ``sys.argv[1:]``), run the command, return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    state: dict[str, Any] = {}
    try:
        code: int = asyncio.run(args.handler(args, state))
    except KeyboardInterrupt:
        _end_partial_line(state)
        message = state.get("interrupted") or "interrupted"
        _error(message)
        return EXIT_INTERRUPTED
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except FlowiseError as exc:
        _end_partial_line(state)
        _error(error_message(exc, args))
        return exit_code(exc)
    except BrokenPipeError:
        # The reader of our output went away (e.g. "| head"): not an error of ours.
        with _suppress_all():
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit flush
        return EXIT_OK
    return code


def exit_code(exc: FlowiseError) -> int:
    """The exit code of an expected error."""
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return EXIT_AUTH
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, APIConnectionError):
        return EXIT_CONNECTION
    return EXIT_FAILED


def error_message(exc: FlowiseError, args: argparse.Namespace) -> str:
    """
    The one line that explains *exc* to a command-line user: the hints name the options and
    environment variables of the command, not the arguments of the Python API.
    """
    if isinstance(exc, APITimeoutError):
        where = f"{exc.method} {exc.url}" if exc.method else "the server"
        if exc.phase == "connect":
            return (
                f"could not connect to the server for {where} in time: is it up, and are "
                "--base-url / FLOWISE_BASE_URL right?"
            )
        waited = f"{args.timeout:g} s" if args.timeout else "the time allowed"
        if exc.phase == "idle":
            what = f"no data for {waited} while reading the answer to {where}"
        else:
            what = f"no answer within {waited} to {where}"
        return f"{what}: the flow may be slow; wait longer with --timeout SECONDS (0: no limit)"
    if isinstance(exc, AuthenticationError):
        said = exc.server_message or "Unauthorized"
        return (
            f"{exc.status} from {exc.method} {exc.url}: {said}: the API key is missing or wrong; "
            "pass it with --api-key KEY or set FLOWISE_API_KEY"
        )
    if isinstance(exc, PermissionDeniedError):
        said = exc.server_message or "Forbidden"
        return (
            f"{exc.status} from {exc.method} {exc.url}: {said}: the API key lacks a permission "
            "for this call; use another with --api-key KEY or FLOWISE_API_KEY"
        )
    return exc.message


def _end_partial_line(state: dict[str, Any]) -> None:
    """End a line of output left open by a failed stream, so that the error starts a new one."""
    if state.pop("partial_line", False):
        with _suppress_all():
            sys.stdout.write("\n")
            sys.stdout.flush()


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


class _suppress_all:  # noqa: N801 - used like contextlib.suppress
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


# -- parser ---------------------------------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """
    The options every command takes. The top-level parser sets their defaults; a command's
    parser (*suppress*) sets them only when given, so they work before and after the command.
    """

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--base-url",
        default=default(None),
        help="the Flowise server root (default: $FLOWISE_BASE_URL, else http://localhost:3000)",
    )
    parser.add_argument(
        "--api-key", default=default(None), help="the API key (default: $FLOWISE_API_KEY)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=default(120.0),
        metavar="SECONDS",
        help="longest wait for an answer to start and between two events; 0 waits forever "
        "(default: 120)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, suppress=True)

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Talk to a Flowise server: run chatflows, one question or a file of them. "
        "--base-url, --api-key and --timeout go before or after the command.",
        epilog="Exit codes: 0 ok, 1 failure, 2 usage, 3 unreachable, 4 API key refused, "
        "5 unknown chatflow, 130 interrupted.",
    )
    _add_common(parser, suppress=False)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    predict = commands.add_parser(
        "predict",
        parents=[common],
        help="ask a chatflow one question; the answer streams to the terminal",
        description="Ask a chatflow one question. Tokens are printed as they arrive.",
    )
    predict.add_argument("chatflow_id", metavar="CHATFLOW_ID")
    predict.add_argument("question", metavar="QUESTION")
    predict.add_argument(
        "--no-stream", action="store_true", help="wait for the whole answer instead"
    )
    predict.add_argument(
        "--json",
        action="store_true",
        help="print the raw events as JSON lines ({'event': ..., 'data': ...}); with "
        "--no-stream, the whole result as one JSON object",
    )
    predict.add_argument("--chat-id", help="continue this conversation")
    predict.add_argument(
        "--usage",
        action="store_true",
        help="print the run's token usage to stderr, when the server reports it",
    )
    predict.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an overrideConfig entry (VALUE is parsed as JSON if it can be); repeatable",
    )
    predict.add_argument(
        "--upload",
        action="append",
        default=[],
        metavar="FILE",
        type=Path,
        help="attach a file: images and audio as files, anything else as its text; repeatable",
    )
    predict.set_defaults(handler=cmd_predict)

    batch = commands.add_parser(
        "batch",
        parents=[common],
        help="answer a JSONL file of questions into a JSONL file, resumably",
        description=(
            "Run every line of INPUT through a chatflow and append one JSON line per answer to "
            "OUTPUT. An input line is a JSON string (the question) or an object with "
            "'question' and optional 'id', 'chat_id', 'override_config', ... Run the same "
            "command again to resume: inputs already answered in OUTPUT are skipped and "
            "failed ones are tried again."
        ),
    )
    batch.add_argument("chatflow_id", metavar="CHATFLOW_ID")
    batch.add_argument("input", metavar="INPUT", type=Path, help="questions, one JSON per line")
    batch.add_argument(
        "-o", "--output", required=True, type=Path, help="answers, one JSON object per line"
    )
    batch.add_argument(
        "--concurrency", type=int, default=8, help="questions in flight at once (default: 8)"
    )
    batch.add_argument("--no-stream", action="store_true", help="use non-streaming requests")
    batch.add_argument(
        "--retries",
        type=int,
        default=2,
        help="further attempts for a question that failed before its answer started (default: 2)",
    )
    batch.add_argument("--fail-fast", action="store_true", help="stop at the first failed question")
    batch.add_argument(
        "--overwrite",
        action="store_true",
        help="start over: empty OUTPUT instead of resuming",
    )
    batch.add_argument(
        "--progress",
        choices=("auto", "bar", "log", "none"),
        default="auto",
        help="a progress bar on a terminal, log lines otherwise (default: auto)",
    )
    batch.set_defaults(handler=cmd_batch)

    chatflows = commands.add_parser("chatflows", parents=[common], help="manage chatflows")
    chatflow_commands = chatflows.add_subparsers(title="commands", metavar="COMMAND")
    listing = chatflow_commands.add_parser(
        "list", parents=[common], help="list the chatflows as a table"
    )
    listing.add_argument("--type", help="CHATFLOW, AGENTFLOW, MULTIAGENT or ASSISTANT")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=cmd_chatflows_list)

    ping = commands.add_parser(
        "ping", parents=[common], help="check that the server answers, and its version"
    )
    ping.set_defaults(handler=cmd_ping)
    add_serve_openai(commands, common)
    return parser


def make_client(args: argparse.Namespace, **kwargs: Any) -> AsyncFlowise:
    """The client the options ask for."""
    timeout = args.timeout if args.timeout and args.timeout > 0 else None
    timeouts = Timeouts(connect=min(10.0, timeout or 10.0), headers=timeout, idle=timeout)
    try:
        return AsyncFlowise(args.base_url, api_key=args.api_key, timeouts=timeouts, **kwargs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# -- predict --------------------------------------------------------------------------------


def parse_overrides(items: Sequence[str]) -> dict[str, Any] | None:
    """``KEY=VALUE`` pairs as a dict; values that parse as JSON are decoded."""
    if not items:
        return None
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--override expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def load_upload(path: Path) -> Upload:
    """A file as an upload: images and audio as data, anything else as its text."""
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    try:
        if mime.startswith("image/"):
            return Upload.from_path(path, mime=mime)
        if mime.startswith("audio/"):
            return Upload.from_path(path, mime=mime, type="audio")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--upload: no such file: {path}") from None
    except UnicodeDecodeError:
        raise UsageError(
            f"--upload: {path} is neither an image, audio nor UTF-8 text; upload it to a "
            "document store instead"
        ) from None
    except OSError as exc:
        raise UsageError(f"--upload: cannot read {path}: {exc.strerror}") from None
    return Upload.full_text(text, name=path.name, mime=mime if "/" in mime else "text/plain")


async def check_chatflow(client: AsyncFlowise, chatflow_id: str) -> bool:
    """
    Whether the chatflow can stream; raises `NotFoundError` for an unknown one.

    Flowise never answers a *streaming* prediction of an unknown chatflow, so ask first.
    """
    try:
        return await client.chatflows.is_streaming(chatflow_id)
    except TypeError as exc:
        raise UnexpectedContentError(
            f"{client.base_url} gave an unexpected answer about chatflow {chatflow_id!r} "
            f"({exc}): is this a Flowise server, and is the base URL its root?",
            status=200,
            method="GET",
            url=f"{client.base_url}/api/v1/chatflows-streaming/{chatflow_id}",
        ) from None


async def cmd_predict(args: argparse.Namespace, state: dict[str, Any]) -> int:
    """``flowise-async predict``."""
    overrides = parse_overrides(args.override)
    uploads = [load_upload(path) for path in args.upload] or None
    out = sys.stdout
    async with make_client(args) as client:
        streaming = not args.no_stream and await check_chatflow(client, args.chatflow_id)
        options: dict[str, Any] = {
            "chat_id": args.chat_id,
            "override_config": overrides,
            "uploads": uploads,
        }
        if not streaming:
            prediction = await client.predictions.create(args.chatflow_id, args.question, **options)
            if args.json:
                out.write(json.dumps(unstructure(prediction), ensure_ascii=False) + "\n")
            else:
                out.write(prediction.text + "\n")
                await answer_waiting_run(
                    client,
                    args.chatflow_id,
                    prediction.chat_id,
                    prediction.pending_action,
                    stream=False,
                )
            return _run_outcome(prediction, args)
        async with client.predictions.stream(args.chatflow_id, args.question, **options) as stream:
            async for event in stream:
                if args.json:
                    name, payload = encode_event(event)
                    line = json.dumps({"event": name, "data": payload}, ensure_ascii=False)
                    out.write(line + "\n")
                    out.flush()
                elif type(event) is TokenEvent and event.text:
                    out.write(event.text)
                    out.flush()
                    state["partial_line"] = not event.text.endswith("\n")
            prediction = await stream.final()  # read to its end: assembles what it kept
        if not args.json:
            out.write("\n")
            state["partial_line"] = False
            await answer_waiting_run(
                client, args.chatflow_id, stream.chat_id, stream.pending_action
            )
    return _run_outcome(prediction, args)


def _run_outcome(prediction: Prediction, args: argparse.Namespace) -> int:
    """
    The exit code of a finished run, with ``--usage`` printed: a run that ended with no answer
    (``metadata`` and ``end`` only: a known failure of queue-mode servers) is a failure, not
    an empty success.
    """
    if args.usage:
        usage = prediction.usage
        if usage is None:
            print("usage: the server reported none for this run", file=sys.stderr)
        else:
            print(
                f"usage: {usage.input_tokens} input, {usage.output_tokens} output, "
                f"{usage.total_tokens} total tokens",
                file=sys.stderr,
            )
    if prediction.status is RunStatus.NO_ANSWER:
        _error(
            f"the run ended without an answer (chat {prediction.chat_id}): the server sent no "
            "text and no action. On a queue-mode server a worker may have failed; see its log"
        )
        return EXIT_FAILED
    return EXIT_OK


# -- chatflows, ping ------------------------------------------------------------------------


async def cmd_chatflows_list(args: argparse.Namespace, state: dict[str, Any]) -> int:
    """``flowise-async chatflows list``."""
    async with make_client(args) as client:
        flows = await client.chatflows.list(type=args.type)
    if args.json:
        for flow in flows:
            row: dict[str, Any] = {"id": flow.id, "name": flow.name, "type": flow.type}
            row.update(deployed=flow.deployed, updated=flow.updated_date)
            print(json.dumps(row, ensure_ascii=False))
        return EXIT_OK
    headers = ("ID", "NAME", "TYPE", "DEPLOYED", "UPDATED")
    rows = [
        (
            flow.id,
            flow.name,
            flow.type or "",
            "" if flow.deployed is None else ("yes" if flow.deployed else "no"),
            flow.updated_date or "",
        )
        for flow in flows
    ]
    print_table(headers, rows, sys.stdout)
    return EXIT_OK


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """A table: with rich on a terminal, plain aligned columns otherwise."""
    if out.isatty():
        try:
            from rich.console import Console  # noqa: PLC0415
            from rich.table import Table  # noqa: PLC0415
        except ImportError:
            pass
        else:
            table = Table(*headers)
            for row in rows:
                table.add_row(*row)
            Console(file=out).print(table)
            return
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    for row in [headers, *rows]:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        out.write("\n")


async def cmd_ping(args: argparse.Namespace, state: dict[str, Any]) -> int:
    """``flowise-async ping``."""
    async with make_client(args) as client:
        started = time.monotonic()
        answer = await client.ping()
        elapsed = 1000 * (time.monotonic() - started)
        if answer.strip() != "pong":
            raise UnexpectedContentError(
                f"{client.base_url} answered the ping with {answer[:80]!r}, not 'pong': "
                "is this a Flowise server, and is the base URL its root?",
                status=200,
                method="GET",
                url=f"{client.base_url}/api/v1/ping",
            )
        version = None
        with _suppress(APIStatusError, TypeError):  # older servers have no version route
            version = await client.version()
    print(f"pong from {client.base_url} (Flowise {version or 'unknown'}) in {elapsed:.0f} ms")
    return EXIT_OK


# -- batch ----------------------------------------------------------------------------------


def _key(line: int, data: Any) -> str:
    """What identifies an input across runs: its ``id``, else its line number."""
    if isinstance(data, dict) and data.get("id") is not None:
        return f"id:{data['id']}"
    return f"line:{line}"


def scan_input(path: Path) -> int:
    """Check every line of the input file; return the number of questions."""
    count = 0
    errors: list[str] = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                try:
                    data = json.loads(raw)
                    if not isinstance(data, (str, dict)):
                        raise TypeError("expected a JSON string or object")
                    if isinstance(data, dict):
                        _request_of(data)
                except (ValueError, TypeError) as exc:
                    errors.append(f"{path}:{number}: {exc}")
                count += 1
    except FileNotFoundError:
        raise UsageError(f"no such input file: {path}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise UsageError("invalid input lines:\n  " + "\n  ".join(errors[:5]) + more)
    return count


def _request_of(data: dict[str, Any]) -> PredictionRequest:
    fields = {k: v for k, v in data.items() if k != "id"}
    if not isinstance(fields.get("question"), str):
        raise TypeError("an object needs a 'question' string")
    return PredictionRequest.from_dict(fields)


def read_done(path: Path) -> set[str]:
    """
    The keys answered in an existing output file. Lines of failed or cut-off answers are
    dropped from the file (so it holds one line per answered input), atomically.
    """
    if not path.exists():
        return set()
    done: set[str] = set()
    keep: list[str] = []
    dropped = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            try:
                record = json.loads(raw)
                ok = isinstance(record, dict) and record.get("ok") is True and raw.endswith("\n")
            except ValueError:
                ok = False
            if ok and record["key"] not in done:
                done.add(record["key"])
                keep.append(raw)
            else:
                dropped += 1
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.writelines(keep)
        tmp.replace(path)
    return done


def iter_inputs(path: Path, done: set[str]) -> Iterator[tuple[str, int, Any]]:
    """``(key, line, parsed)`` of the inputs not answered yet, read lazily."""
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            data = json.loads(raw)
            key = _key(number, data)
            if key not in done:
                yield key, number, data


def result_record(key: str, line: int, data: Any, result: BatchResult) -> dict[str, Any]:
    """One output line."""
    question = data if isinstance(data, str) else data.get("question")
    record: dict[str, Any] = {"key": key, "line": line}
    if isinstance(data, dict) and "id" in data:
        record["id"] = data["id"]
    record.update(question=question, ok=result.ok, chat_id=result.chat_id)
    if result.value is not None:
        prediction = result.value
        record.update(
            text=prediction.text,
            chat_message_id=prediction.chat_message_id,
            session_id=prediction.session_id,
        )
        if prediction.source_documents:
            record["source_documents"] = unstructure(prediction.source_documents)
    else:
        error = result.error
        entry: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
        if isinstance(error, APIStatusError):
            entry["status"] = error.status
        record["error"] = entry
    record.update(attempts=result.attempts, elapsed=round(result.elapsed, 3))
    return record


class Reporter:
    """Batch progress on stderr: a rich bar on a terminal, else a log line every few seconds."""

    def __init__(self, mode: str, total: int, skipped: int, err: TextIO) -> None:
        self.err = err
        self.total = total
        self.skipped = skipped
        self.last_log = 0.0
        self.bar: Any = None
        self.task: Any = None
        if mode == "auto":
            mode = "bar" if err.isatty() else "log"
        self.mode = mode
        if mode == "bar":
            try:
                from rich import progress as rp  # noqa: PLC0415
            except ImportError:
                self.mode = "log"
            else:
                self.bar = rp.Progress(
                    rp.TextColumn("[bold]batch"),
                    rp.BarColumn(),
                    rp.MofNCompleteColumn(),
                    rp.TextColumn("{task.fields[failed]} failed"),
                    rp.TextColumn("{task.fields[rate]}"),
                    rp.TimeRemainingColumn(),
                    console=_console(err),
                    transient=False,
                )
                self.task = self.bar.add_task("batch", total=total, failed=0, rate="")
                self.bar.start()

    def __call__(self, progress: BatchProgress) -> None:
        if self.mode == "bar":
            rate = f"{progress.rate:.1f}/s"
            if progress.tokens:
                rate += f" {progress.tokens_per_second:.0f} tok/s"
            self.bar.update(self.task, completed=progress.done, failed=progress.failed, rate=rate)
        elif self.mode == "log":
            now = time.monotonic()
            if now - self.last_log >= 2.0 or progress.done == progress.total:
                self.last_log = now
                self.err.write(self.line(progress) + "\n")
                self.err.flush()

    @staticmethod
    def line(progress: BatchProgress) -> str:
        eta = progress.eta
        parts = [
            f"batch: {progress.done}/{progress.total} done",
            f"{progress.failed} failed",
            f"{progress.rate:.1f}/s",
        ]
        if progress.tokens:
            parts.append(f"{progress.tokens_per_second:.0f} tok/s")
        parts.append(f"ETA {eta:.0f}s" if eta is not None else "ETA ?")
        return ", ".join(parts)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _console(err: TextIO) -> Any:
    from rich.console import Console  # noqa: PLC0415

    return Console(file=err)


async def cmd_batch(args: argparse.Namespace, state: dict[str, Any]) -> int:
    """``flowise-async batch``."""
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.retries < 0:
        raise UsageError("--retries must not be negative")
    total = await asyncio.to_thread(scan_input, args.input)
    if args.overwrite:
        args.output.unlink(missing_ok=True)
    done = await asyncio.to_thread(read_done, args.output)
    todo = total - len(done)
    counts = {"answered": 0, "failed": 0}
    out_path = args.output
    state["interrupted"] = (
        f"interrupted; {out_path} is valid and keeps the answers so far: run the same command "
        "again to resume"
    )
    if todo <= 0:
        print(f"nothing to do: all {total} inputs are answered in {out_path}", file=sys.stderr)
        return EXIT_OK
    if done:
        print(f"resuming: {len(done)} of {total} already answered", file=sys.stderr)
    pending: dict[int, tuple[str, int, Any]] = {}
    source = iter_inputs(args.input, done)

    def requests() -> Iterator[Any]:
        for index, (key, line, data) in enumerate(source):
            pending[index] = (key, line, data)
            if isinstance(data, str):
                yield data
            else:
                yield _request_of(data)

    started = time.monotonic()
    reporter = Reporter(args.progress, todo, len(done), sys.stderr)
    # One connection more than the batch uses, for the other calls.
    limits = Limits(max_connections=args.concurrency + 1)
    try:
        with out_path.open("a", encoding="utf-8") as out:
            async with make_client(args, limits=limits) as client:
                # Also turns an unknown chatflow into a clear error before anything runs.
                streaming = not args.no_stream and await check_chatflow(client, args.chatflow_id)
                batch = client.predictions.batch(
                    args.chatflow_id,
                    requests(),
                    concurrency=args.concurrency,
                    stream=streaming,
                    retries=args.retries,
                    fail_fast=args.fail_fast,
                    on_progress=reporter,
                    total=todo,
                )
                async with batch.as_completed() as results:
                    async for result in results:
                        key, line, data = pending.pop(result.index)
                        record = result_record(key, line, data, result)
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
                        out.flush()
                        counts["answered" if result.ok else "failed"] += 1
                        if not result.ok and _fatal(result.error):
                            raise result.error  # type: ignore[misc]
    finally:
        reporter.close()
        state["interrupted"] = (
            f"interrupted: {counts['answered']} answers written to {out_path} this run "
            f"({len(done) + counts['answered']} of {total} in all); the file is valid: run "
            "the same command again to resume"
        )
    elapsed = time.monotonic() - started
    print(
        f"{counts['answered']} answered, {counts['failed']} failed, {len(done)} skipped "
        f"-> {out_path} ({elapsed:.1f} s)",
        file=sys.stderr,
    )
    if counts["failed"]:
        _error(
            f"{counts['failed']} questions failed (see the 'error' field in {out_path}); run "
            "the same command again to retry them"
        )
        return EXIT_FAILED
    return EXIT_OK


def _fatal(error: BaseException | None) -> bool:
    """Errors that would fail every other item too: stop the batch with a clear message."""
    return isinstance(
        error, (APIConnectionError, AuthenticationError, PermissionDeniedError)
    ) and not isinstance(error, TimeoutError)
