"""What each part of chatspan's ``get_response`` path costs in place, by switching it off.

Timers around a part add their own cost and warm what they touch; here each part is instead
replaced by a stand-in that does nothing (same return shape), and ``overhead.py``'s paired rounds
run again. A part's cost is chatspan's overhead with everything on minus its overhead with that
part off, both paired against the untouched SDK. Parts interact through the caches, so the
savings do not add up exactly to the whole. The ``floor`` mode of ``overhead.py`` (the bare
reference plus the span current during the call and the response attributes set after the
start) is printed beside them: what no instrumentation with the issue's attributes avoids.

Run: ``python bench/overhead_parts.py [--rounds N] [part ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatspan.instrumentation import call, metrics, patch

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
}


async def _overheads(part: str | None, rounds: int) -> dict[str, float]:
    chatspan_pass = overhead.new_pass("off", overhead.dropping_tracer_provider())
    restore = _PARTS[part][1](chatspan_pass) if part else (lambda: None)
    try:
        await chatspan_pass.run("get_response", max(rounds // 10, 1), keep=False)
        await chatspan_pass.run("get_response", rounds)
    finally:
        restore()
        chatspan_pass.close()
    return {
        name: statistics.median(chatspan_pass.overheads(name, "get_response"))
        for name in ("bare", "floor", "off")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("parts", nargs="*", help=f"some of: {', '.join(_PARTS)} (default: all)")
    options = parser.parse_args()
    unknown = sorted(set(options.parts) - set(_PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(_PARTS)}")
    print(f"get_response, {options.rounds} paired rounds per line; overheads in µs, medians\n")
    print(f"{'switched off':<16}{'bare':>7}{'floor':>7}{'chatspan':>10}{'saves':>7}")
    whole = asyncio.run(_overheads(None, options.rounds))
    print(f"{'(nothing)':<16}{whole['bare']:>7.1f}{whole['floor']:>7.1f}{whole['off']:>10.1f}")
    for part in options.parts or _PARTS:
        figures = asyncio.run(_overheads(part, options.rounds))
        saves = (whole["off"] - whole["bare"]) - (figures["off"] - figures["bare"])
        print(
            f"{part:<16}{figures['bare']:>7.1f}{figures['floor']:>7.1f}"
            f"{figures['off']:>10.1f}{saves:>7.1f}   {_PARTS[part][0]}"
        )
    print(
        "\nsaves: chatspan's overhead above the bare reference's, less the same with the part off"
    )


if __name__ == "__main__":
    main()
