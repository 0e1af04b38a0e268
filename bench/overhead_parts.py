"""What each part of chatspan's ``get_response`` path costs in place, by switching it off.

Timers around a part add their own cost and warm what they touch; here each part is instead
replaced by a stand-in that does nothing (same return shape), and ``overhead.py``'s paired rounds
run again. A part's cost is chatspan's overhead with everything on minus its overhead with that
part off, both paired against the untouched SDK. Parts interact through the caches, so the
savings do not add up exactly to the whole. The ``floor`` mode of ``overhead.py`` (the bare
reference plus the span current during the call and the response attributes set after the
start) is printed beside them: what no instrumentation with the issue's attributes avoids.

A part may be a combination, ``price+request``: all of them off at once. ``--skeleton`` adds a
mode to every pass, a wrapper written here that does only what chatspan's span needs with none
of its features: chatspan's argument binding and endpoint cache, the span started, made current
with a weak reference to a call record, registered as open, the fetch step's completion read
into five response attributes, set in one batch, ended. It checks nothing and guards nothing
(chatspan reads odd types, bounds text, contains failures), through ``wrapt`` as chatspan is:
the least a wrapper of this design can cost, to set against the parts.

Run: ``python bench/overhead_parts.py [--rounds N] [--skeleton] [part[+part...] ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import timeit
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wrapt
from opentelemetry.context import attach, detach, get_current
from opentelemetry.trace import SpanKind

from chatspan.instrumentation import call, metrics, patch
from chatspan.instrumentation.bridge_context import hook_scope, unhook_scope
from chatspan.instrumentation.context_keys import SPAN_KEY
from chatspan.instrumentation.dedupe import claim_inference
from chatspan.instrumentation.request import EndpointCache, bind_call

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead  # the sibling script: its modes, fake client and pairing


def _replaced(owner: Any, attribute: str, stand_in: Any) -> Callable[[Any], Callable[[], None]]:
    """A part switched off by swapping one attribute; returns how to put it back."""

    def switch_off(chatspan_pass: Any) -> Callable[[], None]:
        original = owner.__dict__[attribute]
        setattr(owner, attribute, stand_in)
        return lambda: setattr(owner, attribute, original)

    return switch_off


def _no_price(chatspan_pass: Any) -> Callable[[], None]:
    chatspan_pass.instrumentor._state.pricing = None  # the pass is closed after: nothing to undo
    return lambda: None


def _no_scope_hooks(chatspan_pass: Any) -> Callable[[], None]:
    chatspan_pass.scope_hooks = False
    unhook_scope()

    def put_back() -> None:
        chatspan_pass.scope_hooks = True
        hook_scope()

    return put_back


# part -> (what it is, how to switch it off once the pass is instrumented)
_PARTS: dict[str, tuple[str, Callable[[Any], Callable[[], None]]]] = {
    "price": ("the cost from the usage and the prices", _no_price),
    "agent-lookup": (
        "the enclosing agent span and its name",
        _replaced(call, "chat_parent", lambda current: (current, None)),
    ),
    "request": (
        "request attributes from ModelSettings",
        _replaced(call, "request_attributes", lambda arguments, stream, fixed: dict(fixed)),
    ),
    "dedupe": (
        "the check for another instrumentation's open inference",
        _replaced(patch, "inference_already_open", lambda current: False),
    ),
    "metrics": (
        "queueing the call's metric values",
        _replaced(metrics.ChatMetrics, "record_chat", lambda self, *args, **kwargs: None),
    ),
    "response-batch": (
        "setting the response attributes on the span (the SDK's set_attributes)",
        _replaced(call.ChatCall, "_set_summary", lambda self, completed: None),
    ),
    "hooks": ("the hooks on the Agents SDK's Scope (the bridge's lockstep)", _no_scope_hooks),
}


def _switched_off(part: str) -> list[str]:
    """``price+request``: the parts a combination names."""
    return part.split("+")


class _CallRecord:
    __slots__ = ("__weakref__", "late", "start")


def _skeleton_model(tracer: Any, client: Any) -> Any:
    """The ``--skeleton`` mode (module docstring)."""
    endpoints = EndpointCache(legacy_system=False)
    open_calls: set[_CallRecord] = set()

    async def traced(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        current = get_current()
        if call.CALL_KEY in current:
            return await wrapped(*args, **kwargs)
        arguments = bind_call(*args, **kwargs)
        endpoint = endpoints.endpoint(instance)
        attributes = {**endpoint.attributes, "gen_ai.request.stream": False}
        temperature = getattr(arguments.model_settings, "temperature", None)
        if temperature is not None:
            attributes["gen_ai.request.temperature"] = temperature
        record = _CallRecord()
        record.late, record.start = {}, timeit.default_timer()  # the clock a duration needs
        span = tracer.start_span(
            endpoint.span_name, context=current, kind=SpanKind.CLIENT, attributes=attributes
        )
        open_calls.add(record)
        token = attach(
            claim_inference({**current, SPAN_KEY: span, call.CALL_KEY: weakref.ref(record)})
        )
        try:
            result = await wrapped(*args, **kwargs)
        finally:
            detach(token)
            open_calls.discard(record)
            if record.late:
                span.set_attributes(record.late)
            span.end()
        return result

    class Skeleton(overhead._Uninstrumented):
        async def _fetch_response(self, *args: Any, **kwargs: Any) -> Any:
            record_ref = get_current().get(call.CALL_KEY)
            record = record_ref() if record_ref is not None else None
            completion = await overhead._SDK_FETCH(self, *args, **kwargs)
            if record is not None:
                usage = completion.usage
                record.late.update(
                    {
                        "gen_ai.response.id": completion.id,
                        "gen_ai.response.model": completion.model,
                        "gen_ai.response.finish_reasons": (completion.choices[0].finish_reason,),
                        "gen_ai.usage.input_tokens": usage.prompt_tokens,
                        "gen_ai.usage.output_tokens": usage.completion_tokens,
                    }
                )
            return completion

    Skeleton.get_response = wrapt.FunctionWrapper(overhead._SDK_GET, traced)  # type: ignore[method-assign]
    return Skeleton(overhead.MODEL, openai_client=client)


async def _overheads(part: str | None, rounds: int, skeleton: bool = False) -> dict[str, float]:
    tracer_provider = overhead.dropping_tracer_provider()
    chatspan_pass = overhead.new_pass("off", tracer_provider)
    if skeleton:
        chatspan_pass.models["skeleton"] = _skeleton_model(
            tracer_provider.get_tracer("skeleton"), chatspan_pass.client
        )
    restores = [_PARTS[name][1](chatspan_pass) for name in _switched_off(part)] if part else []
    try:
        await chatspan_pass.run("get_response", max(rounds // 10, 1), keep=False)
        await chatspan_pass.run("get_response", rounds)
    finally:
        for restore in reversed(restores):
            restore()
        chatspan_pass.close()
    return {
        name: statistics.median(chatspan_pass.overheads(name, "get_response"))
        for name in ("bare", "floor", "off", *(("skeleton",) if skeleton else ()))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument(
        "--skeleton", action="store_true", help="add the skeleton wrapper's mode to every line"
    )
    parser.add_argument(
        "parts",
        nargs="*",
        help=f"some of: {', '.join(_PARTS)}, or a+b for several at once (default: each)",
    )
    options = parser.parse_args()
    named = {name for part in options.parts for name in _switched_off(part)}
    unknown = sorted(named - set(_PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(_PARTS)}")
    print(f"get_response, {options.rounds} paired rounds per line; overheads in µs, medians\n")
    parts = options.parts or list(_PARTS)
    width = max(16, *(len(part) + 2 for part in parts))
    skeleton_head = f"{'skeleton':>10}{'x bare':>7}" if options.skeleton else ""
    print(
        f"{'switched off':<{width}}{'bare':>7}{'floor':>7}{'chatspan':>10}{'x bare':>7}"
        f"{'saves':>7}{skeleton_head}"
    )
    whole = asyncio.run(_overheads(None, options.rounds, options.skeleton))
    print(_line("(nothing)", width, whole, None, options.skeleton))
    for part in parts:
        figures = asyncio.run(_overheads(part, options.rounds, options.skeleton))
        saves = (whole["off"] - whole["bare"]) - (figures["off"] - figures["bare"])
        what = "; ".join(_PARTS[name][0] for name in _switched_off(part))
        print(f"{_line(part, width, figures, saves, options.skeleton)}   {what}")
    print(
        "\nsaves: chatspan's overhead above the bare reference's, less the same with the part off"
    )


def _line(
    label: str, width: int, figures: dict[str, float], saves: float | None, skeleton: bool
) -> str:
    bare = figures["bare"]
    line = (
        f"{label:<{width}}{bare:>7.1f}{figures['floor']:>7.1f}{figures['off']:>10.1f}"
        f"{figures['off'] / bare:>6.2f}x{'' if saves is None else f'{saves:>7.1f}':>7}"
    )
    if skeleton:
        line += f"{figures['skeleton']:>10.1f}{figures['skeleton'] / bare:>6.2f}x"
    return line


if __name__ == "__main__":
    main()
