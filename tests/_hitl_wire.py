"""
The bytes of agent flow runs that wait for a person: capture them from a server, compare
their shapes.

`capture_hitl` runs one fixed script against a server (a real Flowise of the integration
harness, or `flowise_async.testing.FakeFlowise`) with plain aiohttp requests and returns the
exact bodies, by name. The flow is the harness's ``agentflow-hitl``: Start -> Human Input
("Shall I answer?", feedback on) -> LLM on proceed, Direct Reply "Request rejected." on reject.

The script: a streamed run that stops, the chat's execution (listed and read), a streamed
resume with feedback, a streamed resume of the finished chat (not waiting), a plain run that
stops, a plain reject, a plain resume of the finished chat, a streamed reject of a third run, a
plain and a streamed resume of a chat that never ran, then sharing, reading publicly and
deleting the first execution.

The real bodies are kept in ``tests/integration/wire/<line>-hitl-<name>.<sse|json>``;
``shape`` reduces a body to what must agree between servers (event names and order, keys and
value types), leaving out the values that differ from run to run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp


WIRE_DIR = Path(__file__).resolve().parent / "integration" / "wire"
STREAMED = ("stopped", "proceed", "not-waiting", "reject", "no-run")
"""The streamed captures (``.sse``); the others are JSON bodies (``.json``)."""
NAMES = (
    "stopped",
    "executions",
    "execution",
    "proceed",
    "not-waiting",
    "stopped-plain",
    "reject-plain",
    "not-waiting-plain",
    "reject",
    "no-run-plain",
    "no-run",
    "update",
    "public",
    "delete",
)
QUESTION = "Send the report to Ada"
FEEDBACK = "make it short"


@dataclass(frozen=True)
class Captured:
    """One response, as received."""

    status: int
    content_type: str
    body: bytes

    def decoded(self) -> Any:
        """The JSON body decoded (``None`` for a stream)."""
        if self.content_type.startswith("text/event-stream"):
            return None
        return json.loads(self.body)


def path_of(line: str, name: str) -> Path:
    """Where the capture *name* of *line* is kept."""
    suffix = "sse" if name in STREAMED else "json"
    return WIRE_DIR / f"{line}-hitl-{name}.{suffix}"


async def capture_hitl(
    base_url: str, flow_id: str, *, api_key: str | None = None, tag: str = "hitl"
) -> dict[str, Captured]:
    """Run the script against the server and return each response by name (bounded)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    out: dict[str, Captured] = {}
    timeout = aiohttp.ClientTimeout(total=90)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:

        async def call(name: str, method: str, path: str, body: Any = None) -> Captured:
            async with session.request(method, f"{base_url}{path}", json=body) as response:
                captured = Captured(
                    status=response.status,
                    content_type=response.headers.get("Content-Type", ""),
                    body=await response.read(),
                )
            out[name] = captured
            return captured

        route = f"/api/v1/prediction/{flow_id}"

        async def predict(name: str, chat_id: str, question: str, **more: Any) -> Captured:
            body = {"question": question, "chatId": chat_id, **more}
            return await call(name, "POST", route, body)

        node = "humanInputAgentflow_0"
        proceed = {"type": "proceed", "startNodeId": node, "feedback": FEEDBACK}
        reject = {"type": "reject", "startNodeId": node}
        first = f"{tag}-stream-{uuid.uuid4()}"
        await predict("stopped", first, QUESTION, streaming=True)
        query = f"agentflowId={flow_id}&sessionId={first}"
        listed = await call("executions", "GET", f"/api/v1/executions?{query}")
        execution_id = listed.decoded()["data"][0]["id"]
        await call("execution", "GET", f"/api/v1/executions/{execution_id}")
        await predict("proceed", first, FEEDBACK, streaming=True, humanInput=proceed)
        await predict("not-waiting", first, "Reject", streaming=True, humanInput=reject)

        second = f"{tag}-plain-{uuid.uuid4()}"
        await predict("stopped-plain", second, QUESTION, streaming=False)
        await predict("reject-plain", second, "Reject", streaming=False, humanInput=reject)
        await predict("not-waiting-plain", second, "Reject", streaming=False, humanInput=reject)

        third = f"{tag}-reject-{uuid.uuid4()}"
        await predict("stopped-again", third, QUESTION, streaming=False)  # not kept
        await predict("reject", third, "Reject", streaming=True, humanInput=reject)

        never = f"{tag}-never-{uuid.uuid4()}"
        bare = {"type": "proceed"}
        await predict("no-run-plain", never, "Proceed", streaming=False, humanInput=bare)
        await predict("no-run", never, "Proceed", streaming=True, humanInput=bare)

        executions = f"/api/v1/executions/{execution_id}"
        await call("update", "PUT", executions, {"isPublic": True})
        await call("public", "GET", f"/api/v1/public-executions/{execution_id}")
        await call("delete", "DELETE", executions)
    return out


# -- shapes ------------------------------------------------------------------------------------


def shape(value: Any) -> Any:
    """
    *value* with every scalar replaced by its JSON type name: dicts keep their keys (sorted),
    lists keep their length, JSON text that holds an object or a list is shaped too.
    """
    if isinstance(value, Mapping):
        return {str(key): shape(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, str):
        if value[:1] in ("{", "["):
            try:
                return {"json-text": shape(json.loads(value))}
            except ValueError:
                pass
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null"


def stream_payloads(body: bytes) -> list[dict[str, Any]]:
    """The decoded ``data:`` payloads of a Flowise stream body, in order (comments skipped)."""
    payloads = []
    for block in body.split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                payloads.append(json.loads(line[len(b"data:") :]))
    return payloads


def event_names(body: bytes) -> list[str]:
    """The ``event`` names of a stream body, in order."""
    return [str(payload["event"]) for payload in stream_payloads(body)]


def load(line: str) -> dict[str, Captured]:
    """The stored captures of *line* (the status is kept in ``<name>.status`` beside JSON)."""
    stored = {}
    index = json.loads((WIRE_DIR / f"{line}-hitl-index.json").read_text(encoding="utf-8"))
    for name in NAMES:
        status, content_type = index[name]
        stored[name] = Captured(status, content_type, path_of(line, name).read_bytes())
    return stored


def save(line: str, captures: Mapping[str, Captured]) -> None:
    """Write the captures of *line* (bodies, and one index of statuses and content types)."""
    WIRE_DIR.mkdir(exist_ok=True)
    for name in NAMES:
        path_of(line, name).write_bytes(captures[name].body)
    index = {name: [captures[name].status, captures[name].content_type] for name in NAMES}
    (WIRE_DIR / f"{line}-hitl-index.json").write_text(
        json.dumps(index, indent=2) + "\n", encoding="utf-8"
    )
