"""``python -m benchmarks``: run every benchmark, print the figures, write ``RESULTS.md``.

Each script runs in its own process (memory and start-up figures must not see each other's
leftovers) and hands its results back through the JSON file named by ``BENCHMARKS_JSON``. A
script that does not (``room_list_update.py`` prints its own report) is shown verbatim.

``--quick`` measures at the small size, for the test suite's smoke run; it writes nothing
unless ``--output`` says where.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import JSON_ENV, QUICK_ENV, Result, load_results, machine

HERE = Path(__file__).parent
#: The measurements, in the issue's order; the sixth is another script's, run when present.
SCRIPTS = (
    "ingest",
    "ui_stall",
    "warm_start",
    "room_open",
    "memory",
    "room_list_update",
    "encrypted_send",
    "owner",
    "push_rules",
)
#: Arguments for scripts that take their own (room_list_update has no quick mode of ours).
QUICK_ARGS = {"room_list_update": ["--rooms", "300", "--rounds", "3"]}
TIMEOUT = 900


class Run:
    """One script's outcome: structured results, or its printed report."""

    def __init__(
        self, name: str, results: list[Result], output: str, seconds: float, *, failed: bool
    ) -> None:
        self.name = name
        self.results = results
        self.output = output
        self.seconds = seconds
        self.failed = failed


def run_one(name: str, quick: bool) -> Run | None:
    if not (HERE / f"{name}.py").exists():
        print(f"-- {name}: not there, skipped", flush=True)
        return None
    print(f"-- {name}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tm-bench-") as tmp:
        target = Path(tmp) / "results.json"
        env = dict(os.environ, **{JSON_ENV: str(target)})
        if quick:
            env[QUICK_ENV] = "1"
        args = QUICK_ARGS.get(name, []) if quick else []
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", *args],
            cwd=HERE.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        seconds = time.perf_counter() - start
        print(proc.stdout, end="", flush=True)
        results = load_results(target) if target.exists() and proc.returncode == 0 else []
    output = proc.stdout
    if proc.returncode != 0:
        output += f"\n(failed: exit status {proc.returncode})"
    return Run(name, results, output, seconds, failed=proc.returncode != 0)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(
    runs: list[Run],
    started: dt.datetime,
    seconds: float,
    quick: bool,
    load: tuple[float, float] | None = None,
) -> str:
    """The Markdown report: when, where, then one table of every figure and its goal.

    ``load``: the 1-minute load average before and after the run.
    """
    results = [r for run in runs for r in run.results]
    held = [r for r in results if r.met is not None]
    met = sum(1 for r in held if r.met)
    lines = [
        "# Benchmark results",
        "",
        f"- **Date:** {started:%Y-%m-%d %H:%M} UTC ({seconds:.0f} s for the whole run"
        + (", quick mode: small sizes" if quick else "")
        + ")",
        f"- **Machine:** {machine()}",
        *(
            [
                f"- **Load average** (1 min) before / after the run: {load[0]:.2f} / "
                f"{load[1]:.2f} (the run itself adds about 1; more is other work on this "
                "shared machine, which makes timings noisier)"
            ]
            if load is not None
            else []
        ),
        "- **Command:** `python -m benchmarks` (issue 7; the scripts are in `benchmarks/`)",
        f"- **Goals met:** {met} of {len(held)}",
        "",
        "| benchmark | measure | figure | goal | met | detail |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        verdict = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(
            f"| {_cell(r.benchmark)} | {_cell(r.metric)} | {r.formatted()} | {_cell(r.goal)} "
            f"| {verdict} | {_cell(r.note)} |"
        )
    for run in runs:
        if not run.results:
            title = "failed" if run.failed else "its own report"
            lines += [
                "",
                f"## {run.name} ({title})",
                "",
                "```text",
                run.output.rstrip(),
                "```",
            ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Run tuimatrix's benchmarks (issue 7).")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--output", type=Path, help="where to write the Markdown table")
    parser.add_argument("names", nargs="*", help=f"only these of {', '.join(SCRIPTS)}")
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in SCRIPTS]
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}")
    started = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    runs = [run for name in args.names or SCRIPTS if (run := run_one(name, args.quick))]
    seconds = time.perf_counter() - start
    load = (load_before, os.getloadavg()[0])
    output = args.output or (None if args.quick or args.names else HERE / "RESULTS.md")
    if output is not None:
        output.write_text(render(runs, started, seconds, args.quick, load), "utf-8")
        print(f"-- wrote {output}")
    failed = [run.name for run in runs if run.failed]
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
