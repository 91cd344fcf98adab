"""
What the observer hooks cost: the stream and plain calls with no hook, with one no-op hook,
against a baseline source tree (the same code before the hooks, e.g. ``git archive``).

``python -m benchmarks.hooks_cost --baseline DIR [--rounds R] [--reps N] [--workload W]``
runs worker processes in turn (each mode first, second ... in turn). *DIR* holds the
baseline's package only (``git archive COMMIT flowise_async | tar -x -C DIR``):

- ``baseline``: the package imported from *DIR* (no hooks exist there);
- ``none``: this tree, no hook registered;
- ``noop``: this tree, one `flowise_async.Hooks` registered that does nothing (it follows
  no call: ``call_started`` returns None);
- ``follow``: this tree, one hook that follows every call with a `flowise_async.CallHooks`
  doing nothing (every event and read goes through it).

A run streams the workload's frames from a `flowise_async.mock.MockTransport` (no sockets:
the figure is the client's CPU) and reads every event, then makes 200 plain calls
(``ping``) and 200 non-streamed predictions; its figure is the process's CPU time. It prints
one JSON object: the median CPU milliseconds per run of each mode, and each mode over
``baseline`` with its 95% bootstrap interval (processes resampled).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.otel_cost import _bootstrap_ratio


MODES = ("baseline", "none", "noop", "follow")
CALLS = 200


async def _one_run(chunks: Sequence[bytes], expected_events: int) -> float:
    from flowise_async import AsyncFlowise
    from flowise_async.mock import MockRequest, MockResponse, MockTransport

    def handler(request: MockRequest) -> MockResponse:
        if request.path.endswith("/ping"):
            return MockResponse(200, text="pong")
        if request.json and request.json.get("streaming"):
            return MockResponse(200, content=chunks, content_type="text/event-stream")
        return MockResponse(200, json={"text": "done", "chatId": "c"})

    async with AsyncFlowise("http://flowise.bench", transport=MockTransport(handler)) as client:
        started = time.process_time()
        count = 0
        async with client.predictions.stream("flow", "q") as stream:
            async for _ in stream:
                count += 1
        for _ in range(CALLS):
            await client.ping()
            await client.predictions.create("flow", "q")
        elapsed = time.process_time() - started
    if count != expected_events:
        raise SystemExit(f"decoded {count} events, expected {expected_events}")
    return elapsed


def _worker(mode: str, reps: int, workload: str) -> list[float]:
    from benchmarks import workloads

    spec = workloads.get(workload)
    chunks = spec.writes
    expected = len(spec.expected)
    import flowise_async

    if mode != "baseline":
        if not hasattr(flowise_async, "add_hooks"):
            raise SystemExit(f"{mode}: this tree has no hooks ({flowise_async.__file__})")
        if mode == "noop":
            flowise_async.add_hooks(flowise_async.Hooks())
        elif mode == "follow":

            class Follow(flowise_async.Hooks):
                def call_started(self, call: Any) -> Any:
                    return flowise_async.CallHooks()

            flowise_async.add_hooks(Follow())
    elif hasattr(flowise_async, "add_hooks"):
        raise SystemExit(f"baseline: the tree has hooks ({flowise_async.__file__})")
    asyncio.run(_one_run(chunks, expected))  # warm-up
    return [asyncio.run(_one_run(chunks, expected)) for _ in range(reps)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="a source tree of the package without hooks")
    parser.add_argument("--rounds", type=int, default=15, help="worker processes per mode")
    parser.add_argument("--reps", type=int, default=5, help="timed runs per process")
    parser.add_argument(
        "--workload", default="tokens-per-write", choices=("tokens-coalesced", "tokens-per-write")
    )
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.reps, args.workload)))
        return
    if not args.baseline:
        parser.error("--baseline DIR is required (e.g. a 'git archive' of the commit before)")
    here = os.getcwd()
    samples: dict[str, list[list[float]]] = {mode: [] for mode in MODES}
    for index in range(args.rounds):
        turn = index % len(MODES)
        for mode in MODES[turn:] + MODES[:turn]:
            # The working directory comes first on sys.path: the baseline's package from DIR,
            # the benchmarks (absent from DIR) from here.
            tree = os.path.abspath(args.baseline) if mode == "baseline" else here
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, here])}
            command = [sys.executable, "-m", "benchmarks.hooks_cost", "--worker", mode]
            command += ["--reps", str(args.reps), "--workload", args.workload]
            out = subprocess.run(
                command, check=True, capture_output=True, text=True, timeout=600, env=env, cwd=tree
            )
            samples[mode].append(json.loads(out.stdout))
    rng = random.Random(0)
    medians = {
        mode: round(1000 * statistics.median(v for runs in values for v in runs), 2)
        for mode, values in samples.items()
    }
    result: dict[str, Any] = {
        "workload": args.workload,
        "processes_per_mode": args.rounds,
        "runs_per_process": args.reps,
        "median_cpu_ms": medians,
    }
    for mode in MODES[1:]:
        point, low, high = _bootstrap_ratio(samples[mode], samples["baseline"], rng)
        result[f"{mode}/baseline"] = {
            "ratio": round(point, 4),
            "ci95": [round(low, 4), round(high, 4)],
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
