"""What every benchmark script shares: results, their printing, the machine, memory.

A script is ``benchmarks/<name>.py`` with an ``async def measure(quick: bool) ->
list[Result]`` and ``if __name__ == "__main__": run_script(measure)``. Run alone it prints its
figures; ``python -m benchmarks`` runs each in its own process and collects what it wrote to the
JSON file named by ``BENCHMARKS_JSON``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Where a script writes its results as JSON (set by ``python -m benchmarks``).
JSON_ENV = "BENCHMARKS_JSON"
#: "1": measure at the small size only (the test suite's smoke run).
QUICK_ENV = "BENCHMARKS_QUICK"


@dataclass
class Result:
    """One figure: ``value`` in ``unit``, with the goal it is held to, if any."""

    benchmark: str
    metric: str
    value: float
    unit: str
    goal: str = ""
    met: bool | None = None
    note: str = ""

    def formatted(self) -> str:
        return format_value(self.value, self.unit)


def format_value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "not run"
    if unit == "×":
        return f"{value:.1f}×"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:g} {unit}".strip()


def goal(
    benchmark: str, metric: str, value: float, unit: str, limit: float, note: str = ""
) -> Result:
    """A result held to ``value ≤ limit``."""
    return Result(
        benchmark,
        metric,
        value,
        unit,
        goal=f"≤ {format_value(limit, unit)}",
        met=value <= limit,
        note=note,
    )


def print_results(results: list[Result]) -> None:
    width = max((len(r.metric) for r in results), default=0)
    for r in results:
        verdict = "" if r.met is None else ("  met" if r.met else "  NOT MET")
        aim = f"  (goal {r.goal})" if r.goal else ""
        note = f"  — {r.note}" if r.note else ""
        print(f"  {r.metric:<{width}}  {r.formatted():>10}{aim}{verdict}{note}")


def quick_requested() -> bool:
    return os.environ.get(QUICK_ENV) == "1" or "--quick" in sys.argv[1:]


def run_script(measure: Callable[[bool], Coroutine[Any, Any, list[Result]]]) -> None:
    """Run a script's ``measure``: print its results, and write them where asked."""
    results = asyncio.run(measure(quick_requested()))
    print_results(results)
    target = os.environ.get(JSON_ENV)
    if target:
        Path(target).write_text(json.dumps([asdict(r) for r in results], ensure_ascii=False))


def load_results(path: Path) -> list[Result]:
    return [Result(**item) for item in json.loads(path.read_text("utf-8"))]


# -- measuring ------------------------------------------------------------------------------


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed time in seconds."""
    elapsed: list[float] = []
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.append(time.perf_counter() - start)


def median(values: list[float]) -> float:
    return statistics.median(values)


def settle() -> None:
    """Collect garbage left by the previous run, so it is not charged to the next."""
    gc.collect()


def rss_mb() -> float:
    """This process's resident set size now, in MB (Linux; peak RSS elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    """CPU model, cores, memory, OS and Python: the "machine" column of the results."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GB RAM"
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}, {cores} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )
