"""
Keep a real local Flowise running for experiments, until Ctrl-C::

    python -m harness.serve --version 3.1.4
    python -m harness.serve --version 2.2.8
    python -m harness.serve --version 3.1.4 --queue --workers 2
    python -m harness.serve --database sqlite

Installs the release if the cache has none, starts the fake model, PostgreSQL (or, with
``--database sqlite``, none: Flowise's own SQLite file) and Flowise on 127.0.0.1 (in queue mode
also Redis and the workers), creates an API key, a credential, one chatflow per template and,
on 3.x, an agent flow that waits for a person, prints the base URL, the key and the id of every
flow it created with what each is for, and waits. Ctrl-C (or SIGTERM) stops every process and
removes the server's data.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from harness import install
from harness.server import FLOW_NAMES, FlowiseServer, HarnessError, RealFlowise, http_json


HITL = "agentflow-hitl"
FLOW_TYPES = {"agentflow": "AGENTFLOW", HITL: "AGENTFLOW"}
AGENT_FLOWS = frozenset(FLOW_TYPES)
"""Agent flows v2: from 3.0.0."""
SERVED_FLOWS = (*FLOW_NAMES, HITL)
"""The flows this command creates, in the order it prints them."""

PURPOSES = {
    "conversation": "chatflow: conversation chain with memory; streams the model's echo",
    "conversation-nonstreaming": "chatflow: that chain, not streaming (the answer in one piece)",
    "llmchain": 'chatflow: LLM chain, prompt "Question: {question}"',
    "retrieval": "chatflow: retrieval QA over an in-memory vector store (source documents)",
    "retrieval-broken": "chatflow: fails when run (invalid text splitter): the error paths",
    "toolagent": "chatflow: tool agent with a calculator (ask with [[calc=6*7]])",
    "agentflow": "agent flow: Start -> LLM",
    HITL: (
        "agent flow that waits for a person: Start -> Human Input -> LLM; resume it on the "
        'same chat with "proceed" (feedback allowed) or "reject"'
    ),
}
"""One line on what each flow is for, as printed."""


def flows_for(version: str) -> tuple[str, ...]:
    """The templates the release can run: agent flows v2 exist from 3.0.0."""
    if int(version.split(".", 1)[0]) < 3:
        return tuple(name for name in SERVED_FLOWS if name not in AGENT_FLOWS)
    return SERVED_FLOWS


def create_flows(real: RealFlowise) -> dict[str, str]:
    """Create one flow per template the line can run; return their ids by template name."""
    ids: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {real.api_key}"}
    for name in flows_for(real.version):
        status, body, _ = http_json(
            "POST",
            f"{real.base_url}/api/v1/chatflows",
            {
                "name": f"demo-{name}",
                "type": FLOW_TYPES.get(name, "CHATFLOW"),
                "flowData": json.dumps(real.flow_data(name)),
            },
            headers=headers,
        )
        if status not in (200, 201) or not isinstance(body, dict):
            raise HarnessError(f"creating the chatflow {name!r} answered {status}: {body!r}")
        ids[name] = str(body["id"])
    return ids


def describe_flows(ids: dict[str, str]) -> list[str]:
    """The lines printed about the flows: a heading, then per flow its id and its purpose."""
    lines = ["  flows it created (id, template: what it is for):"]
    lines += [f"    {flow_id}  {name}: {PURPOSES[name]}" for name, flow_id in ids.items()]
    return lines


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--version",
        default=install.FLOWISE_VERSION,
        help=f"the Flowise release (tested: {', '.join(install.LINES)})",
    )
    parser.add_argument("--queue", action="store_true", help="queue mode: Redis and workers")
    parser.add_argument("--workers", type=int, default=2, help="workers in queue mode")
    parser.add_argument(
        "--database",
        choices=install.DATABASES,
        default="postgres",
        help="where Flowise stores its data (default postgres, installed with apt-get where "
        "missing; sqlite needs nothing system-wide)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)  # also when started with SIGINT ignored
    server = FlowiseServer(
        version=args.version, queue=args.queue, workers=args.workers, database=args.database
    )
    try:
        with server as real:
            ids = create_flows(real)
            mode = f"queue mode, {args.workers} workers" if args.queue else "one process"
            print(f"Flowise {real.version} ({mode}, on {real.database}) is running.", flush=True)
            print(f"  FLOWISE_BASE_URL={real.base_url}")
            print(f"  FLOWISE_API_KEY={real.api_key}")
            print("\n".join(describe_flows(ids)))
            print(f"  data directory: {real.data_dir}")
            print("Press Ctrl-C to stop it.", flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    except (HarnessError, install.InstallError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
