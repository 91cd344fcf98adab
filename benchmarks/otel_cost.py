"""
What the OpenTelemetry instrumentation costs: the tokens-coalesced stream, instrumented or not.

``python -m benchmarks.otel_cost [--rounds R] [--reps N] [--workload W]`` runs worker
processes in turn:

- ``no-extra``: ``opentelemetry`` cannot be imported at all (as without the ``otel`` extra);
- ``off``: the SDK set up, instrumented for the warm-up run, then uninstrumented;
- ``no-sdk``: instrumented with no SDK at all: the API's no-op tracer and meter providers
  (the SDK cannot be imported);
- ``on``: instrumented, spans and metrics recorded in memory.

The modes take turns (each first, second, third and fourth in turn), every process runs a
warm-up and then ``--reps`` timed runs.

Each run streams the 20,000 token frames of ``tokens-coalesced`` (64 KiB reads; or of
``tokens-per-write``, one read per frame: one output chunk per token) through the client,
from a `flowise_async.mock.MockTransport` (no sockets, so the figure is the client's
CPU, which is what the instrumentation adds), and reads every event; a run's figure is the
CPU time of the process (steadier than wall time on a shared machine). It prints one JSON
object: the median CPU milliseconds per run of each mode, and the ratios on/off,
no-sdk/off and no-extra/off with 95% bootstrap intervals. *off* costs nothing when the
interval of no-extra/off holds 1; the budget of *no-sdk* is met (``"no-sdk within budget"``)
when the upper end of the interval of no-sdk/off is at most 1.05.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.abc
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any


WORKLOAD = "tokens-coalesced"
MODES = ("no-extra", "off", "no-sdk", "on")
NO_SDK_BUDGET = 1.05  # the upper end of the 95% interval of no-sdk/off, at most


class _NoOpenTelemetry(importlib.abc.MetaPathFinder):
    """Makes ``import opentelemetry...`` fail, as when the extra is not installed."""

    def __init__(self, prefix: str = "opentelemetry") -> None:
        self.prefix = prefix

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname == self.prefix or fullname.startswith(self.prefix + "."):
            raise ImportError(f"{fullname} is blocked in this run")
        return None


async def _one_run(chunks: Sequence[bytes], expected_events: int) -> float:
    from flowise_async import AsyncFlowise
    from flowise_async.mock import MockRequest, MockResponse, MockTransport

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, content=chunks, content_type="text/event-stream")

    async with AsyncFlowise("http://flowise.bench", transport=MockTransport(handler)) as client:
        started = time.process_time()
        count = 0
        async with client.predictions.stream("flow", "q") as stream:
            async for _ in stream:
                count += 1
        elapsed = time.process_time() - started
    if count != expected_events:
        raise SystemExit(f"decoded {count} events, expected {expected_events}")
    return elapsed


def _worker(mode: str, reps: int, workload: str) -> list[float]:
    if mode == "no-extra":
        sys.meta_path.insert(0, _NoOpenTelemetry())
    from benchmarks import workloads

    spec = workloads.get(workload)
    chunks = spec.writes
    expected = len(spec.expected)
    if mode == "no-extra":
        asyncio.run(_one_run(chunks, expected))  # warm-up
        samples = [asyncio.run(_one_run(chunks, expected)) for _ in range(reps)]
        if any(name.startswith("opentelemetry") for name in sys.modules):
            raise SystemExit("opentelemetry was imported in the no-extra run")
        return samples
    if mode == "no-sdk":
        sys.meta_path.insert(0, _NoOpenTelemetry("opentelemetry.sdk"))
        from opentelemetry import trace

        from flowise_async.otel import FlowiseAsyncInstrumentor

        FlowiseAsyncInstrumentor().instrument()  # the global providers: the API's no-ops
        asyncio.run(_one_run(chunks, expected))  # warm-up
        samples = [asyncio.run(_one_run(chunks, expected)) for _ in range(reps)]
        if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            raise SystemExit("a tracer provider was set in the no-sdk run")
        return samples

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from flowise_async.otel import FlowiseAsyncInstrumentor

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = FlowiseAsyncInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    asyncio.run(_one_run(chunks, expected))  # warm-up, instrumented
    if mode == "off":
        instrumentor.uninstrument()
    samples = [asyncio.run(_one_run(chunks, expected)) for _ in range(reps)]
    spans = len(exporter.get_finished_spans())
    wanted = 1 if mode == "off" else reps + 1
    if spans != wanted:
        raise SystemExit(f"{spans} spans, expected {wanted} ({mode})")
    return samples


def _bootstrap_ratio(
    top: Sequence[Sequence[float]],
    bottom: Sequence[Sequence[float]],
    rng: random.Random,
    rounds: int = 2000,
) -> tuple[float, float, float]:
    """
    The ratio of the medians of the per-process medians, and its 95% bootstrap interval
    (processes are resampled: runs of one process are not independent).
    """
    tops = [statistics.median(values) for values in top]
    bottoms = [statistics.median(values) for values in bottom]
    ratios = sorted(
        statistics.median(rng.choices(tops, k=len(tops)))
        / statistics.median(rng.choices(bottoms, k=len(bottoms)))
        for _ in range(rounds)
    )
    point = statistics.median(tops) / statistics.median(bottoms)
    return point, ratios[int(0.025 * rounds)], ratios[int(0.975 * rounds)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="worker processes per mode")
    parser.add_argument("--reps", type=int, default=5, help="timed runs per process")
    parser.add_argument(
        "--workload", default=WORKLOAD, choices=("tokens-coalesced", "tokens-per-write")
    )
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.reps, args.workload)))
        return
    samples: dict[str, list[list[float]]] = {mode: [] for mode in MODES}
    for index in range(args.rounds):
        turn = index % len(MODES)
        order = MODES[turn:] + MODES[:turn]  # each mode first, second ... in turn
        for mode in order:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.otel_cost",
                    "--worker",
                    mode,
                    "--reps",
                    f"{args.reps}",
                    "--workload",
                    args.workload,
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            )
            samples[mode].append(json.loads(out.stdout))
    rng = random.Random(0)
    result: dict[str, Any] = {
        "workload": args.workload,
        "processes_per_mode": args.rounds,
        "runs_per_process": args.reps,
        "median_cpu_ms": {
            mode: round(1000 * statistics.median(v for runs in values for v in runs), 2)
            for mode, values in samples.items()
        },
    }
    for name, top, bottom in (
        ("on/off", "on", "off"),
        ("no-sdk/off", "no-sdk", "off"),
        ("no-sdk/no-extra", "no-sdk", "no-extra"),
        ("no-extra/off", "no-extra", "off"),
    ):
        point, low, high = _bootstrap_ratio(samples[top], samples[bottom], rng)
        result[name] = {"ratio": round(point, 4), "ci95": [round(low, 4), round(high, 4)]}
    result["no-sdk within budget"] = result["no-sdk/off"]["ci95"][1] <= NO_SDK_BUDGET
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
