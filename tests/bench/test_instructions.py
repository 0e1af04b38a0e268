"""``bench/instructions.py`` runs the child it counts, reads callgrind's total, and divides the
difference by the calls. Valgrind itself is stood in for: under it a child takes a minute."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from .scripts import load_bench_script

# Runs the command it is given without valgrind, and reports a total that grows with the calls.
_FAKE_VALGRIND = """#!{python}
import itertools, subprocess, sys
options = list(itertools.takewhile(lambda arg: arg.startswith("--"), sys.argv[1:]))
assert "--tool=callgrind" in options and "--toggle-collect=functools_reduce" in options, options
command = sys.argv[1 + len(options):]
done = subprocess.run(command)
calls = int(command[-1])
sys.stderr.write("==4242== Events    : Ir\\n==4242== Collected : %d\\n" % (1000 + 7 * calls))
sys.exit(done.returncode)
"""


@pytest.fixture
def fake_valgrind(tmp_path, monkeypatch):
    path = tmp_path / "valgrind"
    path.write_text(_FAKE_VALGRIND.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize("mode", ["bare", "off"])
def test_a_child_runs_its_mode_under_the_counter(mode, fake_valgrind):
    bench = load_bench_script("instructions")
    # the child really ran (a failing one raises), and the total is the one the counter printed
    assert bench.count_instructions(mode, "stream_20", 2) == 1000 + 7 * 2


def test_a_failed_child_is_an_error_that_shows_its_output():
    bench = load_bench_script("instructions")
    with pytest.raises(RuntimeError, match="ModuleNotFoundError"):
        bench.parse_collected("Traceback ...\nModuleNotFoundError: no agents\n", returncode=1)
    with pytest.raises(RuntimeError, match="failed"):
        bench.parse_collected("no total here", returncode=0)
    assert bench.parse_collected("==1== Collected : 7540810630\n") == 7540810630


def test_the_report_gives_overheads_ratios_and_the_per_event_figure(capsys):
    bench = load_bench_script("instructions")
    modes = ["baseline", "bare", "floor", "off"]
    per_call = {"baseline": 1000, "bare": 1200, "floor": 1250, "off": 1300}
    results = {
        (mode, workload): value
        + (180 * 10 * (mode != "baseline") if workload == "stream_200" else 0)
        for mode, value in per_call.items()
        for workload in ("get_response", "stream_20", "stream_200")
    }
    results[("off", "stream_200")] += 180 * 5  # 5 instructions per event more than the others
    bench.report(results, modes, ["get_response", "stream_20", "stream_200"])
    out = capsys.readouterr().out
    rows = {tuple(line.split()[:2]): line.split() for line in out.splitlines() if line.strip()}
    assert rows[("get_response", "off")][2:] == ["1,300", "300", "1.50x"]
    assert rows[("get_response", "floor")][-1] == "1.25x"
    assert rows[("get_response", "bare")][2:] == ["1,200", "200"]  # no ratio to itself
    assert rows[("bare", "10")][:3] == ["bare", "10", "instructions/event"]
    assert rows[("off", "15")][:3] == ["off", "15", "instructions/event"]


def test_per_call_takes_out_the_process_and_warm_up():
    bench = load_bench_script("instructions")
    assert bench.per_call(7_000_000, 7_300_000, 300) == 1000.0


def test_each_count_is_reported_as_it_finishes_and_the_table_uses_them_all(monkeypatch, capsys):
    bench = load_bench_script("instructions")
    totals = {("bare", "get_response", 0): 5_000, ("bare", "get_response", 10): 6_000}
    totals |= {("off", "get_response", 0): 5_000, ("off", "get_response", 10): 7_500}
    monkeypatch.setattr(bench, "count_instructions", lambda *job: totals[job])
    results = bench._measure(["bare", "off"], ["get_response"], {"get_response": 10})
    assert results == {("bare", "get_response"): 100.0, ("off", "get_response"): 250.0}
    progress = capsys.readouterr().err.splitlines()
    assert len(progress) == 4 and all(
        line.strip().endswith(("5,000", "6,000", "7,500")) for line in progress
    )
    assert sorted(line.split(":")[0].strip() for line in progress) == ["1/4", "2/4", "3/4", "4/4"]
