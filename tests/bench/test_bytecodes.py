"""``bench/bytecodes.py`` counts the opcodes of one mode per child process, by function."""

from __future__ import annotations

from .scripts import load_bench_script


def test_a_child_counts_only_its_own_mode():
    bench = load_bench_script("bytecodes")
    baseline = bench._child_counts("baseline", "get_response", 2)
    chatspan = bench._child_counts("off", "get_response", 2)
    assert not any(key.startswith("chatspan/") for key in baseline)  # chatspan is not in it
    assert chatspan["chatspan/instrumentation/call.py:__init__"] > 0
    assert sum(chatspan.values()) > sum(baseline.values())
    # the SDK's own work is the same in both, call for call
    sdk = "agents/models/openai_chatcompletions.py:get_response"
    assert chatspan[sdk] == baseline[sdk]


def test_file_names_are_shortened_to_where_they_belong():
    bench = load_bench_script("bytecodes")
    assert bench._short("/x/lib/python3.11/site-packages/agents/run.py") == "agents/run.py"
    assert bench._short("/work/main/bench/overhead.py") == "overhead.py"
    assert bench._short("/usr/lib/python3.11/typing.py") == "typing.py"
    ours = bench.chatspan.instrumentation.__file__  # wherever it is installed
    assert bench._short(ours) == "chatspan/instrumentation/__init__.py"


def test_the_report_names_the_unit(capsys):
    bench = load_bench_script("bytecodes")
    totals = {
        (mode, workload): base + (180 * extra if workload == "stream_200" else 0)
        for mode, base, extra in (("baseline", 100, 0), ("bare", 120, 9), ("off", 150, 34))
        for workload in ("get_response", "stream_20", "stream_200")
    }
    bench.instructions.report(totals, ["baseline", "bare", "off"], list(bench.WORKLOADS), "opcodes")
    out = capsys.readouterr().out
    assert "  off             34 opcodes/event" in out
    assert "2.50x" in out  # (150 - 100) / (120 - 100)
