"""The handle ``configure()`` returns: which providers are in use, which chatspan created, and a
bounded shutdown that touches only those.

The SDK providers' own ``shutdown_on_exit`` waits up to 30 s per batch processor plus the
exporter's retries; ours runs the shutdown on a helper thread and waits at most the exit bound,
then tells the exporters to stop retrying, so a dead collector cannot hold the process. Spans are
counted as they end and as each exporter accepts them, so what was lost (queue drops, failed or
abandoned exports) is reported in one log line.

CPython 3.12.0 and 3.12.1 refuse to start a thread in an ``atexit`` handler (gh-113964, undone
in 3.12.2). There the helper thread is started when the exit hook is registered (and again in a
forked child) and waits, idle, until the shutdown hands it its deadline.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.environment_variables import (
    OTEL_BSP_EXPORT_TIMEOUT,
    OTEL_BSP_MAX_QUEUE_SIZE,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from chatspan.exporters.settings import ExportSettings

__all__ = ["CountingExporter", "ExportHandle", "SpanLedger"]

_logger = logging.getLogger(__name__)

_ABORT_GRACE_SECONDS = 1.0
_THREADS_REFUSED_AT_EXIT = (3, 12, 0) <= sys.version_info[:3] < (3, 12, 2)


class CountingExporter(SpanExporter):
    """Counts the spans its exporter accepted, and shuts that exporter down only once."""

    def __init__(self, name: str, inner: SpanExporter) -> None:
        self.name = name
        self.inner = inner
        self.exported = 0
        self.failed = 0  # spans in batches the exporter refused or failed to send
        self._lock = threading.Lock()
        self._down = False

    def forget(self) -> None:
        """In a forked child: nothing exported yet (see ``SpanLedger._forget_parent``)."""
        self._lock = threading.Lock()
        self.exported = self.failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = SpanExportResult.FAILURE
        try:
            result = self.inner.export(spans)
        finally:
            with self._lock:
                if result is SpanExportResult.SUCCESS:
                    self.exported += len(spans)
                else:
                    self.failed += len(spans)
        return result

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        with self._lock:
            if self._down:
                return
            self._down = True
        _shutdown_with_timeout(self.inner, timeout_millis)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class SpanLedger(SpanProcessor):
    """Counts sampled spans ended, against which each exporter's delivered count is compared."""

    def __init__(self) -> None:
        self.ended = 0
        self.exporters: list[CountingExporter] = []
        self._lock = threading.Lock()
        _ledgers.add(self)  # one fork hook for all of them (hooks cannot be unregistered)

    def _forget_parent(self) -> None:
        """A forked child counts afresh: the batch processors drop the parent's queue in the
        child (the parent exports it), so the parent's spans are neither the child's nor lost."""
        self._lock = threading.Lock()
        self.ended = 0
        for counted in self.exporters:
            counted.forget()

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            with self._lock:
                self.ended += 1

    def losses(self) -> dict[str, int]:
        return {c.name: self.ended - c.exported for c in self.exporters if c.exported < self.ended}


_ledgers: weakref.WeakSet[SpanLedger] = weakref.WeakSet()


def _forget_parents() -> None:
    for ledger in list(_ledgers):
        ledger._forget_parent()
    for handle in list(_standing_by):
        if handle._result is None:  # still open: the parent's standby did not come with the fork
            handle._stand_by()


class _StandbyThread:
    """A shutdown thread started ahead of time, waiting until ``release`` gives it a deadline."""

    def __init__(self, run: Callable[[float], None]) -> None:
        self._run = run
        self._deadline = 0.0
        self._released = threading.Event()
        self.thread = threading.Thread(
            target=self._wait_then_run, name="chatspan-shutdown", daemon=True
        )
        self.thread.start()

    def _wait_then_run(self) -> None:
        self._released.wait()
        self._run(self._deadline)

    def release(self, deadline: float) -> threading.Thread | None:
        """The thread, now running ``run(deadline)``; None where it is not running (in a forked
        child the parent's threads are not alive). Called once: ``shutdown`` is idempotent."""
        if not self.thread.is_alive():
            return None
        self._deadline = deadline
        self._released.set()
        return self.thread


_standing_by: weakref.WeakSet[ExportHandle] = weakref.WeakSet()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents)


def _shutdown_with_timeout(exporter: SpanExporter | MetricExporter, timeout_millis: float) -> None:
    if "timeout_millis" in inspect.signature(exporter.shutdown).parameters:
        exporter.shutdown(timeout_millis=timeout_millis)  # type: ignore[call-arg]
    else:
        exporter.shutdown()


def _quietly(step: Callable[[], object]) -> None:
    """Run a shutdown step; the SDK already logs export failures, so only debug-log here."""
    try:
        step()
    except Exception:
        _logger.debug("chatspan: exporter shutdown step failed", exc_info=True)


class ExportHandle:
    """The providers in use and what chatspan created; ``shutdown()`` touches only the latter."""

    def __init__(
        self,
        settings: ExportSettings,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        ledger: SpanLedger | None = None,
        metric_exporters: Sequence[MetricExporter] = (),
    ) -> None:
        self.settings = settings
        self._own_tracer_provider = tracer_provider
        self._own_meter_provider = meter_provider
        self._ledger = ledger or SpanLedger()
        self._metric_exporters = tuple(metric_exporters)
        self._lock = threading.Lock()
        self._result: bool | None = None  # None while open; then whether shutdown finished in time
        self._standby: _StandbyThread | None = None  # only where no thread may start at exit

    @property
    def tracer_provider(self) -> trace.TracerProvider:
        return self._own_tracer_provider or trace.get_tracer_provider()

    @property
    def meter_provider(self) -> metrics.MeterProvider:
        return self._own_meter_provider or metrics.get_meter_provider()

    @property
    def owns_tracer_provider(self) -> bool:
        return self._own_tracer_provider is not None

    @property
    def owns_meter_provider(self) -> bool:
        return self._own_meter_provider is not None

    @property
    def jsonl_path(self) -> Path | None:
        """The file our spans go to, if chatspan created a provider writing one."""
        names = {c.name for c in self._ledger.exporters}
        return self.settings.jsonl_path if "jsonl" in names else None

    def lost_spans(self) -> dict[str, int]:
        """Spans ended but not (yet) accepted, per exporter name: queue drops and failed exports."""
        return self._ledger.losses()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        ok = True
        if self._own_tracer_provider is not None:
            ok = self._own_tracer_provider.force_flush(timeout_millis) and ok
        if self._own_meter_provider is not None:
            ok = self._own_meter_provider.force_flush(timeout_millis) and ok
        return ok

    def shutdown(self, timeout_millis: float | None = None) -> bool:
        """Flush and shut down what we created, within ``timeout_millis`` (default: the exit bound).

        Idempotent. Returns whether everything finished in time. If the budget runs out (a dead
        or slow collector), the exporters are told to stop retrying so the process can exit.
        """
        with self._lock:
            if self._result is not None:
                return self._result
            atexit.unregister(self._shutdown)
            budget = self.settings.exit_timeout_millis if timeout_millis is None else timeout_millis
            deadline = time.monotonic() + budget / 1000
            worker = self._standby.release(deadline) if self._standby is not None else None
            if worker is None:
                worker = threading.Thread(
                    target=self._shutdown_providers, args=(deadline,), name="chatspan-shutdown"
                )
                worker.daemon = True
                try:
                    worker.start()
                except RuntimeError:  # no new thread this late in the exit, none standing by
                    self._shutdown_providers(deadline)  # inline: only the exporters bound it
            if worker.ident is not None:  # started
                worker.join(max(0.0, deadline - time.monotonic()))
                if worker.is_alive():
                    self._abort_exports()
                    worker.join(_ABORT_GRACE_SECONDS)
            self._result = not worker.is_alive()
            self._report_losses(budget)
            return self._result

    def _shutdown(self) -> None:
        self.shutdown()

    def shutdown_at_exit(self) -> None:
        """Run ``shutdown()`` at interpreter exit (in place of the providers' unbounded one)."""
        atexit.register(self._shutdown)
        if _THREADS_REFUSED_AT_EXIT:
            self._stand_by()
            _standing_by.add(self)

    def _stand_by(self) -> None:
        try:
            self._standby = _StandbyThread(self._shutdown_providers)
        except RuntimeError:  # no thread can start now either: the exit flush will run inline
            self._standby = None

    def _shutdown_providers(self, deadline: float) -> None:
        if self._own_tracer_provider is not None:
            _quietly(self._own_tracer_provider.shutdown)
        if self._own_meter_provider is not None:
            provider = self._own_meter_provider
            left = max(0.0, deadline - time.monotonic()) * 1000
            _quietly(lambda: provider.shutdown(timeout_millis=left))

    def _abort_exports(self) -> None:
        exporters: tuple[SpanExporter | MetricExporter, ...] = (
            *self._ledger.exporters,
            *self._metric_exporters,
        )
        for exporter in exporters:
            _quietly(functools.partial(_shutdown_with_timeout, exporter, 0))

    def _report_losses(self, budget_millis: float) -> None:
        """One line: how many spans each exporter lost, and of those how many it failed to send
        (collector down, refusing, too slow) and how many never reached it (dropped from a full
        batch queue, or still queued or in flight when the bounded flush ended)."""
        ended, losses = self._ledger.ended, self._ledger.losses()
        if not losses:
            return
        failed = {c.name: min(c.failed, losses.get(c.name, 0)) for c in self._ledger.exporters}
        where = ", ".join(
            f"{count} of {ended} by {name} ({failed[name]} failed to send, "
            f"{count - failed[name]} never sent)"
            for name, count in losses.items()
        )
        reasons = []
        if any(failed.values()):
            reasons.append("Failed to send: the collector was unreachable, refusing or too slow.")
        if any(count > failed[name] for name, count in losses.items()):
            reasons.append(
                f"Never sent: dropped from a full batch queue (see {OTEL_BSP_MAX_QUEUE_SIZE}), "
                "or still queued when the exit flush ended."
            )
        _logger.warning(
            "chatspan: spans not exported: %s. %s The exit flush waits at most %d ms (%s).",
            where,
            " ".join(reasons),
            budget_millis,
            OTEL_BSP_EXPORT_TIMEOUT,
        )
