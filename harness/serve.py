"""
Keep a real local Flowise running for experiments, until Ctrl-C::

    python -m harness.serve --version 3.1.4
    python -m harness.serve --version 2.2.8
    python -m harness.serve --version 3.1.4 --queue --workers 2

Installs the release if the cache has none, starts the fake model and Flowise on 127.0.0.1
(in queue mode also Redis and the workers), creates an API key, a credential and one chatflow
per template, prints the base URL, the key and the chatflow ids, and waits. Ctrl-C (or
SIGTERM) stops every process and removes the server's data.
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


FLOW_TYPES = {"agentflow": "AGENTFLOW"}


def create_flows(real: RealFlowise) -> dict[str, str]:
    """Create one chatflow per template the line can run; return their ids by template name."""
    ids: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {real.api_key}"}
    for name in FLOW_NAMES:
        if name == "agentflow" and int(real.version.split(".", 1)[0]) < 3:
            continue  # agent flows v2 came in 3.0.0
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
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)  # also when started with SIGINT ignored
    server = FlowiseServer(version=args.version, queue=args.queue, workers=args.workers)
    try:
        with server as real:
            ids = create_flows(real)
            mode = f"queue mode, {args.workers} workers" if args.queue else "one process"
            print(f"Flowise {real.version} ({mode}) is running.", flush=True)
            print(f"  FLOWISE_BASE_URL={real.base_url}")
            print(f"  FLOWISE_API_KEY={real.api_key}")
            for name, flow_id in ids.items():
                print(f"  chatflow {name:<26} {flow_id}")
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
