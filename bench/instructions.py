"""Instructions per call, counted by callgrind: the repeatable companion of ``overhead.py``.

``overhead.py`` times calls, and on a shared VM the same code measures up to 2x apart from one
run to the next; pairing tames that for medians but not for the second decimal. Callgrind counts
the instructions the CPU retires instead, which depends only on the code, its inputs and the
interpreter, not on what else the machine is doing. An instruction is not a nanosecond (cache
misses and branch mispredictions are not in it), so this does not replace the timings: it tells
whether a change made chatspan's work smaller, exactly, where the timings can only say "about".

Each count is one process under ``valgrind --tool=callgrind`` that counts only its calls:
the interpreter's start, the imports, the set-up and a warm-up run first, uncounted, and then
``asyncio.run`` of the counted calls runs inside ``functools.reduce``, the one place callgrind
collects (``--toggle-collect``). Two processes per mode and workload, one with no calls and one
with ``--calls`` of them: the difference over ``--calls`` is one call, with the event loop's own
start and close taken out. Every process runs one mode only (chatspan's hooks on the Agents
SDK's ``Scope`` are removed for the modes that are not chatspan), with ``overhead.py``'s modes,
fake client and arguments, and ``PYTHONHASHSEED=0``.

chatspan's metric values wait in their queue until a collection (README, "Metrics"); a child
collects once, before the warm-up, and not again, so that work stays out of the call as in
``overhead.py`` (which times the collections apart). The queue holds fewer entries than its
bound, so nothing is recorded synchronously either.

Run: ``python bench/instructions.py [--calls N] [--workloads ...] [--modes ...]`` (needs
``valgrind``; a process takes 30-90 s, and as many run at a time as there are CPUs).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead  # the sibling script: its modes, fake client and arguments

MODES = ("baseline", "bare", "floor", "off")  # capture off: the mode the targets are for
WARMUP_CALLS = {"get_response": 100, "stream_20": 50, "stream_200": 10}
DEFAULT_CALLS = {"get_response": 300, "stream_20": 100, "stream_200": 20}
# The 200-event stream is not counted by default: between processes of different modes its
# count moved by up to 0.3% of the call (about 100,000 instructions), more than the modes differ.
DEFAULT_WORKLOADS = ("get_response", "stream_20")
_COUNTED_FUNCTION = "functools_reduce"  # CPython's C function behind functools.reduce
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


class _Child:
    """One mode's model in ``overhead.py``'s setup, warmed up, then the calls that are counted."""

    def __init__(self, mode: str, workload: str) -> None:
        from chatspan.instrumentation.bridge_context import unhook_scope

        self.chatspan_pass = overhead.new_pass("off", overhead.dropping_tracer_provider())
        self.model = self.chatspan_pass.models[mode]
        self.workload = workload
        if mode != "off":
            unhook_scope()  # this process runs one mode: the SDK's Scope as without chatspan
        self.chatspan_pass.reader.get_metrics_data()  # opens chatspan's metric queue

    async def calls(self, count: int) -> None:
        for _ in range(count):
            await overhead._one_call(self.model, self.workload, self.chatspan_pass.arguments)

    def counted(self, count: int) -> None:
        """The calls callgrind counts: it collects only inside ``functools.reduce`` (a C
        function nothing else here calls), so the interpreter's start, the imports, the set-up
        and the warm-up are out of the total, and with them most of a process's variation."""
        functools.reduce(lambda _acc, _item: asyncio.run(self.calls(count)), (None, None))

    def close(self) -> None:
        self.chatspan_pass.close()


def _run_child(mode: str, workload: str, calls: int) -> None:
    child = _Child(mode, workload)
    try:
        asyncio.run(child.calls(WARMUP_CALLS[workload]))
        child.counted(calls)
    finally:
        child.close()


def count_instructions(mode: str, workload: str, calls: int) -> int:
    """The instructions of one child process under callgrind."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            f"--toggle-collect={_COUNTED_FUNCTION}",
            f"--callgrind-out-file={folder}/callgrind.out",
            sys.executable,
            __file__,
            "--child",
            mode,
            workload,
            str(calls),
        ]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            check=False,
        )
    return parse_collected(done.stderr, done.returncode)


def parse_collected(valgrind_stderr: str, returncode: int = 0) -> int:
    """Callgrind's total ("==pid== Collected : N"); a child that failed says why."""
    match = _COLLECTED.search(valgrind_stderr)
    if returncode != 0 or match is None:
        raise RuntimeError(f"the callgrind child failed ({returncode}):\n{valgrind_stderr[-2000:]}")
    return int(match.group(1))


def per_call(without: int, with_calls: int, calls: int) -> float:
    return (with_calls - without) / calls


def _measure(
    modes: list[str], workloads: list[str], calls: dict[str, int]
) -> dict[tuple[str, str], float]:
    jobs = [(m, w, n) for w in workloads for m in modes for n in (0, calls[w])]
    done: list[tuple[str, str, int]] = []

    def count(job: tuple[str, str, int]) -> int:
        total = count_instructions(*job)
        done.append(job)  # the table comes at the end; a run takes many minutes, so say so
        print(f"  {len(done)}/{len(jobs)}: {job[0]} {job[1]}, {job[2]} calls: {total:,}",
              file=sys.stderr, flush=True)  # fmt: skip
        return total

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        totals = dict(zip(jobs, pool.map(count, jobs), strict=True))
    return {
        (mode, workload): per_call(
            totals[(mode, workload, 0)], totals[(mode, workload, calls[workload])], calls[workload]
        )
        for workload in workloads
        for mode in modes
    }


def report(
    results: dict[tuple[str, str], float],
    modes: list[str],
    workloads: list[str],
    unit: str = "instructions",
) -> None:
    """Per call: each mode's count, its overhead above the baseline, that over the bare one's."""
    print(f"{'workload':<13}{'mode':<10}{'per call':>12}{'overhead':>11}{'x bare':>8}")
    for workload in workloads:
        baseline = results.get(("baseline", workload))
        bare = results.get(("bare", workload))
        for mode in modes:
            value = results[(mode, workload)]
            overhead_text = ratio = ""
            if baseline is not None and mode != "baseline":
                extra = value - baseline
                overhead_text = f"{extra:>11,.0f}"
                if bare is not None and mode not in ("baseline", "bare"):
                    ratio = f"{extra / (bare - baseline):.2f}x"
            print(f"{workload:<13}{mode:<10}{value:>12,.0f}{overhead_text:>11}{ratio:>8}")
    if "stream_20" in workloads and "stream_200" in workloads and "baseline" in modes:
        events = overhead.WORKLOADS["stream_200"] - overhead.WORKLOADS["stream_20"]
        print(f"\nper stream event (200-event overhead minus 20-event overhead, / {events}):")
        for mode in modes:
            if mode == "baseline":
                continue
            long, short = (
                results[(mode, w)] - results[("baseline", w)] for w in ("stream_200", "stream_20")
            )
            print(f"  {mode:<9}{(long - short) / events:>9,.0f} {unit}/event")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, workload, calls = sys.argv[2:5]
        _run_child(mode, workload, int(calls))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, help="counted calls per workload (default: scaled)")
    parser.add_argument("--workloads", nargs="+", choices=list(DEFAULT_CALLS),
                        default=list(DEFAULT_WORKLOADS))  # fmt: skip
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("bench/instructions.py needs valgrind (Debian: apt-get install valgrind)")
    calls = {w: options.calls or DEFAULT_CALLS[w] for w in options.workloads}
    print(f"counted calls per workload: {calls}, after warm-up calls {WARMUP_CALLS}\n")
    report(_measure(options.modes, options.workloads, calls), options.modes, options.workloads)


if __name__ == "__main__":
    main()
