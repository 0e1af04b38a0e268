"""Exporter faults, figures for the README: each scenario of the exporter-fault tests, over gRPC
and HTTP, with the agent's call latency, the exit times and the spans lost.

    python bench/exporter_faults.py            # the test suite's fast sizes
    CHATSPAN_LONG_TESTS=1 python bench/exporter_faults.py

Scenarios run one after another (no other load from this script), so the latencies are comparable.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.exporter_scenarios import PROTOCOLS, SCENARIOS, run_scenario
from tests.reliability.test_exporter_faults import SIZES


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}" if values else "-"


def main() -> None:
    print(f"sizes: {SIZES}")
    print(
        "| protocol | scenario | median call, healthy / fault (ms) | max call under fault (ms) "
        "| flush at exit (s) | process exit (s) | spans lost / created / delivered |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for protocol in PROTOCOLS:
            for name in SCENARIOS:
                workdir = Path(tmp) / f"{protocol}-{name}"
                workdir.mkdir()
                outcome = run_scenario(name, protocol, SIZES, workdir)
                healthy = outcome.latencies(*outcome.healthy)
                faulty = outcome.latencies(*(p for p in outcome.faulty if p > 0))
                lost, created = outcome.loss or (0, None)
                delivered = sum(outcome.accepted.values())
                print(
                    f"| {protocol} | {name} | {_ms(healthy)} / {_ms(faulty)} "
                    f"| {max(faulty) * 1000:.0f} | {outcome.flush_seconds:.2f} "
                    f"| {outcome.exit_seconds:.2f} "
                    f"| {lost} / {created if created is not None else delivered} / {delivered} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
