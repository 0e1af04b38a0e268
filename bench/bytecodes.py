"""Bytecode instructions per call, by function: an exact map of where Python work runs.

Neither this count nor ``instructions.py``'s is the time; ``overhead.py`` is. They fail in
opposite ways. Callgrind's CPU instructions understate chatspan's share of a call: on the VM of
bench/README.md, chatspan's part retired its instructions at well under half the rate of the
rest, so ``get_response`` measured 1.54x the bare reference in instructions, 1.8x in opcodes and
about 2x in time. Opcodes overstate what moving work into C saves: a request-attribute read
rewritten with ``attrgetter``/``compress``/``map`` ran 49 opcodes fewer and took twice as long
in isolation (0.75 -> 1.5-1.7 us). Use this count to find where a call's Python goes, in a few
seconds and exactly from one run to the next; judge a change by the timings, and by timing the
part alone where the whole call is too noisy.

Each mode runs in a child process of its own, with ``instructions.py``'s set-up (``overhead.py``'s
modes, fake client and arguments; chatspan's hooks on the Agents SDK's ``Scope`` removed for the
modes that are not chatspan), warms up untraced, then counts the opcodes of ``--calls`` calls
through a ``sys.settrace`` opcode hook on Python 3.11 and ``sys.monitoring`` instruction events
from 3.12 (there, a trace function set inside a running coroutine saw none of the calls it
awaits on 3.12.1, and only some on 3.13.0). A call into C counts as the bytecode that makes it.

Run: ``python bench/bytecodes.py [--calls N] [--workloads ...] [--modes ...] [--top N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import CodeType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import instructions  # the sibling script: its one-mode child and its report

import chatspan.exporters
import chatspan.instrumentation

WORKLOADS = ("get_response", "stream_20", "stream_200")
_CHATSPAN_FOLDERS = {
    f"{Path(package.__file__).parent}{os.sep}": f"{package.__name__.replace('.', '/')}/"
    for package in (chatspan.instrumentation, chatspan.exporters)
}


def count_opcodes(mode: str, workload: str, calls: int) -> dict[str, float]:
    """Opcodes per call, by ``file:function``: in this process, which must run only ``mode``."""
    child = instructions._Child(mode, workload)
    asyncio.run(child.calls(instructions.WARMUP_CALLS[workload]))
    counts: collections.Counter[str] = collections.Counter()

    async def traced_calls() -> None:
        with _counting_opcodes(counts):
            await child.calls(calls)

    try:
        asyncio.run(traced_calls())
    finally:
        child.close()
    return {key: count / calls for key, count in counts.items()}


@contextlib.contextmanager
def _counting_opcodes(counts: collections.Counter[str]) -> Iterator[None]:
    """Count every opcode run in this thread meanwhile into ``counts``, by ``file:function``."""
    keys: dict[CodeType, str] = {}

    def key_of(code: CodeType) -> str:
        key = keys.get(code)
        if key is None:
            key = keys[code] = f"{_short(code.co_filename)}:{code.co_name}"
        return key

    if sys.version_info < (3, 12):

        def on_call(frame: Any, event: str, arg: Any) -> Any:
            frame.f_trace_opcodes = True
            key = key_of(frame.f_code)

            def on_opcode(frame: Any, event: str, arg: Any) -> Any:
                if event == "opcode":
                    counts[key] += 1
                return on_opcode

            return on_opcode

        sys.settrace(on_call)
        try:
            yield
        finally:
            sys.settrace(None)
        return
    monitoring = sys.monitoring  # type: ignore[attr-defined, unused-ignore]
    tool, instruction = monitoring.PROFILER_ID, monitoring.events.INSTRUCTION

    def on_instruction(code: CodeType, offset: int) -> None:
        counts[key_of(code)] += 1

    monitoring.use_tool_id(tool, "chatspan-bytecodes")
    monitoring.register_callback(tool, instruction, on_instruction)
    monitoring.set_events(tool, instruction)
    try:
        yield
    finally:
        monitoring.set_events(tool, 0)
        monitoring.register_callback(tool, instruction, None)
        monitoring.free_tool_id(tool)


def _short(filename: str) -> str:
    """``chatspan/instrumentation/call.py`` however chatspan is installed; others from their
    package (``agents/run.py``), or the file's name."""
    for folder, name in _CHATSPAN_FOLDERS.items():
        if filename.startswith(folder):
            return name + filename[len(folder) :]
    for marker in ("site-packages/", "/bench/"):
        if marker in filename:
            return filename.rsplit(marker, 1)[1]
    return filename.rsplit("/", 1)[-1]


def _child_counts(mode: str, workload: str, calls: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, workload, str(calls)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {mode} {workload} child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def _top(counts: dict[str, float], baseline: dict[str, float], top: int) -> None:
    """The functions whose opcodes a mode adds to the baseline's, most first."""
    added = {key: value - baseline.get(key, 0.0) for key, value in counts.items()}
    print(f"\n  the {top} functions adding most opcodes a call:")
    for key, value in sorted(added.items(), key=lambda item: -item[1])[:top]:
        print(f"  {value:>8,.0f}  {key}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, workload, calls = sys.argv[2:5]
        print(json.dumps(count_opcodes(mode, workload, int(calls))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="counted calls per workload")
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--modes", nargs="+", choices=instructions.MODES,
                        default=list(instructions.MODES))  # fmt: skip
    parser.add_argument("--top", type=int, default=0, help="list off's N costliest functions")
    options = parser.parse_args()
    by_function = {
        (mode, workload): _child_counts(mode, workload, options.calls)
        for workload in options.workloads
        for mode in options.modes
    }
    totals = {job: sum(counts.values()) for job, counts in by_function.items()}
    print(f"counted calls per workload: {options.calls}, after {instructions.WARMUP_CALLS}\n")
    instructions.report(totals, options.modes, options.workloads, unit="opcodes")
    if options.top and "off" in options.modes and "baseline" in options.modes:
        for workload in options.workloads:
            print(f"\n{workload}:", end="")
            _top(by_function[("off", workload)], by_function[("baseline", workload)], options.top)


if __name__ == "__main__":
    main()
