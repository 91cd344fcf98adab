"""
Answer waiting agent flow runs from a terminal: the part of ``flowise-async predict`` that
shows a run's approve/reject choice, reads the answer and resumes the run.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TextIO

from ._resources._resume import Decision
from .models._prediction import Action


if TYPE_CHECKING:
    from ._client import AsyncFlowise

__all__ = ["answer_waiting_run", "read_line"]

#: Reads one answer: shows the prompt, returns the line without its end, ``None`` at EOF.
Ask = Callable[[str], Awaitable[str | None]]

_PROCEED = {"p", "proceed", "y", "yes", "a", "approve"}
_REJECT = {"r", "reject", "n", "no"}
_QUIT = {"q", "quit", ""}


def _interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


async def _no_answer(prompt: str) -> str | None:
    return None


def read_line(err: TextIO = sys.stderr) -> Ask:
    """An `Ask` that writes the prompt to *err* and reads a line of standard input."""

    async def ask(prompt: str) -> str | None:
        err.write(prompt)
        err.flush()
        line = await asyncio.to_thread(sys.stdin.readline)
        return line.rstrip("\r\n") if line else None

    return ask


async def answer_waiting_run(
    client: AsyncFlowise,
    chatflow_id: str,
    chat_id: str | None,
    action: Action | None,
    *,
    stream: bool = True,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    ask: Ask | None = None,
) -> Action | None:
    """
    While the run waits for a person, show its choice, read the answer and resume it.

    The rest of the run's answer goes to *out* (streamed when *stream*); prompts and notes
    go to *err*. An empty answer, ``q`` or the end of the input leaves the run waiting; so
    does a standard input that is not a terminal (unless *ask* is given), which is never
    waited on.

    Returns:
        The action the run still waits on (left unanswered), or ``None`` when it finished
        (or waited for nobody).
    """
    if action is None:
        return None
    if ask is None:
        ask = read_line(err) if _interactive() else _no_answer
    current: Action | None = action
    while current is not None:
        where = current.node_label or current.node_id or "the flow"
        err.write(f"\n[{where}] the run waits for your decision.\n")
        answer = await ask(
            f"[p] {current.approve_label} / [r] {current.reject_label} / [q] leave it waiting: "
        )
        choice = (answer or "").strip().lower()
        while answer is not None and choice not in _PROCEED | _REJECT | _QUIT:
            answer = await ask("Please answer p, r or q: ")
            choice = (answer or "").strip().lower()
        if answer is None or choice in _QUIT or chat_id is None:
            err.write(
                f"The run is left waiting; resume it later on chat {chat_id} "
                f"(predictions.resume({chatflow_id!r}, {chat_id!r}, 'proceed')).\n"
            )
            return current
        decision: Decision = "proceed" if choice in _PROCEED else "reject"
        feedback = None
        if current.feedback_enabled:
            feedback = (await ask("Feedback for the flow (Enter for none): ") or "").strip()
            feedback = feedback or None
        if stream:
            async with client.predictions.resume_stream(
                chatflow_id, chat_id, decision, feedback=feedback, action=current
            ) as resumed:
                async for text in resumed.text_stream():
                    out.write(text)
                    out.flush()
            out.write("\n")
            current = resumed.pending_action
        else:
            prediction = await client.predictions.resume(
                chatflow_id, chat_id, decision, feedback=feedback, action=current
            )
            out.write(prediction.text + "\n")
            current = prediction.pending_action
        out.flush()
    return None
