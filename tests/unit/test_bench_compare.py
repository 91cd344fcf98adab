"""The revision comparison of the benchmarks: the export of a revision and the ratio's interval."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import compare, pair


ROOT = Path(__file__).resolve().parents[2]


def test_export_yields_an_importable_package_of_that_revision(tmp_path: Path) -> None:
    dest = compare.export_revision("HEAD", tmp_path, ROOT)
    assert sorted(p.name for p in dest.iterdir()) == ["flowise_async"]
    code = "import flowise_async; print(flowise_async.__file__); print(flowise_async.AsyncFlowise)"
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", code],
        cwd=dest,
        env={**os.environ, "PYTHONPATH": str(dest)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = Path(done.stdout.splitlines()[0]).resolve()
    assert imported.is_relative_to(dest.resolve())
    assert "AsyncFlowise" in done.stdout.splitlines()[1]


def test_export_of_an_unknown_revision_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot export flowise_async at 'no-such-rev'"):
        compare.export_revision("no-such-rev", tmp_path, ROOT)


def test_ratio_interval_on_known_numbers() -> None:
    # Equal ratios: no spread, the interval is the point.
    point, low, high = compare.ratio_interval([1.02, 2.04, 3.06], [1.0, 2.0, 3.0])
    assert (point, low, high) == pytest.approx((1.02, 1.02, 1.02))
    # Two rounds, logs +0.1 and -0.1: mean 0, standard error 0.1, t(1) = 12.706.
    point, low, high = compare.ratio_interval([math.exp(0.1), 1.0], [1.0, math.exp(0.1)])
    assert point == pytest.approx(1.0)
    assert (low, high) == pytest.approx((math.exp(-1.2706), math.exp(1.2706)))
    # 15 rounds, logs 0.01 * (-7..7): standard deviation 0.01 * sqrt(20), t(14) = 2.145.
    logs = [0.01 * k for k in range(-7, 8)]
    point, low, high = compare.ratio_interval([math.exp(v) * 3 for v in logs], [3.0] * 15)
    half = 2.145 * 0.01 * math.sqrt(20) / math.sqrt(15)
    assert point == pytest.approx(1.0)
    assert (low, high) == pytest.approx((math.exp(-half), math.exp(half)))
    assert high == pytest.approx(1.02508, abs=1e-5)


def test_t_quantile() -> None:
    assert compare.t975(14) == 2.145
    assert compare.t975(100) == pytest.approx(1.98397, abs=1e-3)
    with pytest.raises(ValueError):
        compare.t975(0)


def test_verdict_is_judged_by_the_upper_end() -> None:
    def runs(walls: list[float]) -> list[dict[str, object]]:
        return [{"ok": True, "wall": w} for w in walls]

    results = {
        "steady": {"base": runs([1.0, 1.0, 1.0]), "current": runs([1.01, 1.01, 1.01])},
        "noisy": {"base": runs([1.0, 1.0, 1.0]), "current": runs([0.9, 1.0, 1.1])},
        "broken": {"base": runs([1.0]), "current": [{"ok": False, "reason": "boom"}]},
    }
    rows = {r["workload"]: r for r in compare.summarize(results, {"steady": 2, "noisy": 1}, 1.03)}
    assert rows["steady"]["verdict"] == "PASS"
    assert rows["steady"]["base_us"] == pytest.approx(5e5)
    # The mean ratio is about 1, but the interval's upper end is far above 1.03.
    assert rows["noisy"]["ratio"] == pytest.approx(1.0, abs=0.01)
    assert rows["noisy"]["high"] > 1.03
    assert rows["noisy"]["verdict"] == "FAIL"
    assert rows["broken"] == {
        "workload": "broken",
        "clock": "wall",
        "verdict": "FAIL",
        "reason": "boom",
    }


def test_the_cpu_clock_judges_cpu_time_and_leaves_out_what_has_none() -> None:
    def run(wall: float, cpu: float | None) -> dict[str, object]:
        return {"ok": True, "wall": wall} | ({} if cpu is None else {"cpu": cpu})

    results = {
        # A slower wall time (a busy machine) with the same CPU time: CPU passes, wall fails.
        "stream": {
            "base": [run(1.0, 0.5), run(1.0, 0.5), run(1.0, 0.5)],
            "current": [run(1.2, 0.5), run(1.3, 0.5), run(1.25, 0.5)],
        },
        "relay-latency": {"base": [run(1.0, None)] * 2, "current": [run(1.0, None)] * 2},
    }
    events = {"stream": 1, "relay-latency": 1}
    cpu = {r["workload"]: r for r in compare.summarize(results, events, 1.03, "cpu")}
    wall = {r["workload"]: r for r in compare.summarize(results, events, 1.03, "wall")}
    assert set(cpu) == {"stream"}
    assert cpu["stream"]["verdict"] == "PASS"
    assert cpu["stream"]["current_us"] == pytest.approx(5e5)
    assert wall["stream"]["verdict"] == "FAIL"
    assert set(wall) == {"stream", "relay-latency"}


def test_a_worker_counts_with_the_median_of_its_runs_or_the_fastest() -> None:
    # One run found its frames coalesced (half the cost): the median keeps the workload's cost.
    results = {
        "stream": {
            "base": [{"ok": True, "wall": 2.0, "walls": [2.0, 1.0, 2.0]}] * 2,
            "current": [{"ok": True, "wall": 2.0, "walls": [2.0, 2.0, 2.0]}] * 2,
        }
    }
    (median,) = compare.summarize(results, {"stream": 1}, 1.03)
    assert median["base_us"] == pytest.approx(2e6)
    assert median["ratio"] == pytest.approx(1.0)
    (fastest,) = compare.summarize(results, {"stream": 1}, 1.03, stat="min")
    assert fastest["base_us"] == pytest.approx(1e6)
    assert fastest["ratio"] == pytest.approx(2.0)


def test_the_base_revision_is_exported_under_its_own_name(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    pair.export_base("HEAD", tmp_path, root)
    package = tmp_path / pair.BASE_NAME
    assert (package / "__init__.py").is_file()
    assert (package / "_sse.py").is_file()
    assert not (tmp_path / "flowise_async").exists()
    with pytest.raises(ValueError, match="cannot export"):
        pair.export_base("no-such-revision", tmp_path / "x", root)
