"""Exporter-fault scenarios: a real receiver process, the agent in a child interpreter, the outcome.

Each scenario starts ``otlp_receiver.py`` (or none) and ``fault_agent.py`` with the ``OTEL_*``
variables a user would set, drives the agent's phases (flush, kill, restart, switch the receiver's
mode between them) and returns what a test asserts on: each phase's call latencies, how long the
interpreter took to exit after the agent's last line, chatspan's loss report, and which spans the
receiver accepted. Every wait is bounded; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import json
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.activation.conftest import clean_env

HERE = Path(__file__).resolve().parent
RECEIVER = HERE / "otlp_receiver.py"
AGENT = HERE / "fault_agent.py"
PROTOCOLS = {"grpc": "grpc", "http": "http/protobuf"}  # receiver flag -> OTLP protocol variable
UNRESOLVABLE = "chatspan-no-such-host.invalid"  # RFC 2606: .invalid never resolves
LOSS = re.compile(r"chatspan: spans not exported: (\d+) of (\d+) by (\w+)")
STARTUP_TIMEOUT = 120.0  # a child importing the Agents SDK on a busy machine


class Lines:
    """A child's output, read on a thread, each line stamped with its arrival time."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[tuple[float, str | None]] = queue.Queue()
        self.seen: list[str] = []
        self.closed_at: float | None = None
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put((time.monotonic(), line.rstrip("\n")))
        self._queue.put((time.monotonic(), None))

    def next(self, timeout: float) -> tuple[float, str]:
        """The next line and when it came; ``EOFError`` if the stream closed first."""
        try:
            at, line = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no line within {timeout} s; so far: {self.seen[-5:]}") from None
        if line is None:
            self.closed_at = at
            raise EOFError(f"stream closed; last lines: {self.seen[-5:]}")
        self.seen.append(line)
        return at, line

    def rest(self, timeout: float) -> list[str]:
        """Every line up to the end of the stream."""
        lines = []
        while True:
            try:
                lines.append(self.next(timeout)[1])
            except EOFError:
                return lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """One ``otlp_receiver.py`` process; ``restart`` starts another on the same port and record."""

    def __init__(self, protocol: str, record: Path, port: int, delay: float) -> None:
        self.protocol, self.record, self.port, self.delay = protocol, record, port, delay
        command = [sys.executable, str(RECEIVER), f"--protocol={protocol}", f"--port={port}"]
        command += [f"--record={record}", f"--delay={delay}"]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._lines = Lines(self.process.stdout)  # type: ignore[arg-type]
        try:
            _, ready = self._lines.next(STARTUP_TIMEOUT)
            word, bound = ready.split()
            assert word == "ready" and port in (0, int(bound)), ready
        except BaseException:
            self.kill()
            raise
        self.port = int(bound)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"mode {mode}\n")
        self.process.stdin.flush()
        assert self._lines.next(30)[1] == f"mode {mode}"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)
        _close(self.process)

    def restart(self) -> Receiver:
        return Receiver(self.protocol, self.record, self.port, self.delay)

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:  # a slow receiver still sleeping on a request
                self.process.kill()
                self.process.wait(30)
        _close(self.process)


def _close(process: subprocess.Popen[str]) -> None:
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None and not stream.closed:
            stream.close()


def records(path: Path) -> list[dict[str, Any]]:
    """The receiver's record file (every incarnation appends to the same one)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def accepted_spans(path: Path) -> Counter[str]:
    """Span names the receiver answered OK, with their counts."""
    return Counter(
        name
        for line in records(path)
        if line["signal"] == "traces" and line["outcome"] == "accepted"
        for name in line["spans"]
    )


@dataclass
class Outcome:
    """What a scenario's agent process did and said, and what its receiver got."""

    phases: dict[int, list[float]]  # phase -> per-call latency, seconds (0 is the warm-up run)
    healthy: tuple[int, ...]  # phases run with a working receiver
    faulty: tuple[int, ...]  # phases run under the fault
    flush_seconds: float  # from the agent's last line to the end of chatspan's flush at exit
    exit_seconds: float  # from the agent's last line to the end of the process
    returncode: int
    stderr: list[str]
    accepted: Counter[str]  # span names the receiver answered OK
    turned_away: int  # trace export requests that reached a receiver and were refused or too late
    accepted_before_fault: int | None = None  # spans of the phases flushed before the fault
    timeline: list[tuple[str, float]] = field(default_factory=list)  # steps, for diagnosis

    @property
    def loss(self) -> tuple[int, int] | None:
        """(lost, ended) from chatspan's one warning line, None if there was none."""
        found = [LOSS.search(line) for line in self.stderr]
        matches = [m for m in found if m]
        assert len(matches) <= 1, matches
        return (int(matches[0][1]), int(matches[0][2])) if matches else None

    def latencies(self, *phases: int) -> list[float]:
        return [value for phase in phases for value in self.phases[phase]]


class AgentProcess:
    """``fault_agent.py`` in a fresh interpreter with ``CHATSPAN_ENABLED=1``."""

    def __init__(self, env: dict[str, str], calls: int, phases: int, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(AGENT), f"--calls={calls}", f"--phases={phases}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.out = Lines(self.process.stdout)  # type: ignore[arg-type]
        self.err = Lines(self.process.stderr)  # type: ignore[arg-type]
        self.phases: dict[int, list[float]] = {}

    def _message(self, timeout: float = STARTUP_TIMEOUT) -> tuple[float, dict[str, Any]]:
        at, line = self.out.next(timeout)
        return at, json.loads(line)

    def phase(self) -> int:
        """Wait for the next phase to end; its number."""
        _, message = self._message()
        self.phases[message["phase"]] = message["latencies"]
        return int(message["phase"])

    def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def flush(self) -> None:
        self.command("flush")
        assert self._message()[1] == {"flushed": True}

    def finish(self, timeout: float) -> tuple[float, float, int, list[str]]:
        """Wait for the agent's last lines and its exit.

        :returns: seconds from its last line to the end of chatspan's flush at exit, and to the
            end of the process; its return code; its stderr.
        """
        said_at, message = self._message()
        assert message == {"event": "exiting"}, message
        flushed_at, message = self._message(timeout)
        assert message == {"event": "flushed at exit"}, message
        self.out.rest(timeout)  # returns at the end of the stream: the process is gone
        returncode = self.process.wait(timeout)
        assert self.out.closed_at is not None
        stderr = self.err.rest(timeout)
        return flushed_at - said_at, self.out.closed_at - said_at, returncode, stderr

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        _close(self.process)


def agent_env(
    endpoint: str, protocol: str, exit_budget_ms: int, otlp_timeout: float
) -> dict[str, str]:
    """A user's environment: tracing switched on, one OTLP endpoint, the exit bound."""
    env = clean_env()
    env.update(
        CHATSPAN_ENABLED="1",
        CHATSPAN_AGENTS_SDK_EXPORT="off",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=PROTOCOLS[protocol],
        OTEL_EXPORTER_OTLP_TIMEOUT=str(otlp_timeout),
        OTEL_BSP_EXPORT_TIMEOUT=str(exit_budget_ms),  # chatspan's bound on the flush at exit
        OTEL_BSP_SCHEDULE_DELAY="50",  # export while the agent runs, not only at exit
    )
    return env


@dataclass(frozen=True)
class Sizes:
    calls: int  # model calls per phase
    exit_budget_ms: int  # OTEL_BSP_EXPORT_TIMEOUT: chatspan's bound on the flush at exit
    otlp_timeout: float  # seconds per export, retries included (OTEL_EXPORTER_OTLP_TIMEOUT)
    slow_delay: float  # seconds the slow receiver takes to answer; longer than otlp_timeout


class _Run:
    """One scenario's processes, always stopped, and the outcome assembled from them."""

    def __init__(self, protocol: str, sizes: Sizes, workdir: Path) -> None:
        self.protocol, self.sizes, self.workdir = protocol, sizes, workdir
        self.record = workdir / "received.jsonl"
        self.receivers: list[Receiver] = []
        self.agent: AgentProcess | None = None
        self.started = time.monotonic()
        self.timeline: list[tuple[str, float]] = []  # step, seconds since start: for diagnosis

    def mark(self, step: str) -> None:
        self.timeline.append((step, round(time.monotonic() - self.started, 2)))

    def wait_until_accepted(self, span_name: str, count: int) -> None:
        """Poll the record until the receiver has accepted ``count`` spans named so (bounded)."""
        deadline = time.monotonic() + 2 * self.sizes.otlp_timeout + 30
        while accepted_spans(self.record)[span_name] < count:
            assert time.monotonic() < deadline, (span_name, accepted_spans(self.record))
            time.sleep(0.05)
        self.mark(f"{span_name} arrived")

    def receiver(self, port: int) -> Receiver:
        started = Receiver(self.protocol, self.record, port, self.sizes.slow_delay)
        self.receivers.append(started)
        self.mark("receiver up")
        return started

    def start_agent(self, endpoint: str, phases: int) -> AgentProcess:
        env = agent_env(endpoint, self.protocol, self.sizes.exit_budget_ms, self.sizes.otlp_timeout)
        self.agent = AgentProcess(env, self.sizes.calls, phases, self.workdir)
        self.mark("agent started")
        return self.agent

    def phases_until(self, last: int) -> None:
        assert self.agent is not None
        while (phase := self.agent.phase()) < last:
            self.mark(f"phase {phase} done")
        assert phase == last
        self.mark(f"phase {phase} done")

    def outcome(
        self, healthy: tuple[int, ...], faulty: tuple[int, ...], before: int | None = None
    ) -> Outcome:
        """Let the agent go past its last phase and exit; what it and the receiver saw."""
        assert self.agent is not None
        budget = self.sizes.exit_budget_ms / 1000
        self.agent.command("next")  # past the last phase: the agent exits
        flush_seconds, exit_seconds, returncode, stderr = self.agent.finish(
            budget + STARTUP_TIMEOUT
        )
        self.mark("agent exited")
        return Outcome(
            phases=self.agent.phases,
            healthy=healthy,
            faulty=faulty,
            flush_seconds=flush_seconds,
            exit_seconds=exit_seconds,
            returncode=returncode,
            stderr=stderr,
            accepted=accepted_spans(self.record),
            turned_away=sum(
                1
                for line in records(self.record)
                if line["signal"] == "traces" and line["outcome"] in ("refused", "arrived")
            ),
            accepted_before_fault=before,
            timeline=self.timeline,
        )

    def close(self) -> None:
        if self.agent is not None:
            self.agent.kill()
        for receiver in self.receivers:
            receiver.stop()


def _down_then_up(run: _Run) -> Outcome:
    """No receiver at start (connection refused); one appears on that port after phase 1."""
    port = free_port()
    agent = run.start_agent(f"http://127.0.0.1:{port}", phases=2)
    run.phases_until(1)
    run.receiver(port)
    agent.command("next")
    run.phases_until(2)
    run.wait_until_accepted("invoke_agent phase-2", run.sizes.calls)
    return run.outcome(healthy=(2,), faulty=(0, 1))


def _flushed_then(run: _Run, phases: int) -> tuple[AgentProcess, Receiver, int]:
    """A healthy receiver for the warm-up and phase 1, flushed, so the fault starts clean."""
    receiver = run.receiver(0)
    agent = run.start_agent(receiver.endpoint, phases)
    run.phases_until(1)
    agent.flush()
    run.mark("flushed")
    return agent, receiver, sum(accepted_spans(run.record).values())


def _killed_and_restarted(run: _Run) -> Outcome:
    """Killed (SIGKILL) after phase 1, down for phase 2, back on the same port for phase 3."""
    agent, receiver, before = _flushed_then(run, phases=3)
    receiver.kill()
    run.mark("receiver killed")
    agent.command("next")
    run.phases_until(2)
    run.receivers.append(receiver.restart())
    run.mark("receiver restarted")
    agent.command("next")
    run.phases_until(3)
    run.wait_until_accepted("invoke_agent phase-3", run.sizes.calls)
    return run.outcome(healthy=(1, 3), faulty=(2,), before=before)


def _switched_to(mode: str) -> Callable[[_Run], Outcome]:
    def scenario(run: _Run) -> Outcome:
        agent, receiver, before = _flushed_then(run, phases=2)
        receiver.set_mode(mode)
        run.mark(f"receiver {mode}")
        agent.command("next")
        run.phases_until(2)
        return run.outcome(healthy=(1,), faulty=(2,), before=before)

    scenario.__doc__ = f"Healthy for phase 1, then the receiver turns {mode} for phase 2."
    return scenario


def _unresolvable(run: _Run) -> Outcome:
    """An endpoint whose host name never resolves."""
    run.start_agent(f"http://{UNRESOLVABLE}:4317", phases=1)
    run.phases_until(1)
    return run.outcome(healthy=(), faulty=(0, 1))


SCENARIOS: dict[str, Callable[[_Run], Outcome]] = {
    "down_at_start": _down_then_up,
    "killed_and_restarted": _killed_and_restarted,
    "slow": _switched_to("slow"),
    "refusing": _switched_to("fail"),
    "unresolvable": _unresolvable,
}


def run_scenario(name: str, protocol: str, sizes: Sizes, workdir: Path) -> Outcome:
    """Run one scenario to the end; every process it started is gone when this returns."""
    run = _Run(protocol, sizes, workdir)
    try:
        return SCENARIOS[name](run)
    finally:
        run.close()
