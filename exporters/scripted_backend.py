"""A scripted Chat Completions server inside the process, for the demo and the tests.

It sits behind a real ``openai.AsyncOpenAI`` client as a ``MockTransport`` of whichever httpx
flavour the installed ``openai`` is built on (``httpx2`` for openai 3.x, ``httpx`` before), so
everything above the transport (the SDK's request building, SSE parsing, retries, errors) is
the real code. Each request takes the next scripted reply.
"""

from __future__ import annotations

import importlib
import json
from collections import deque
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HttpError",
    "ScriptedBackend",
    "chunk",
    "completion",
    "http_module",
    "sse",
    "text_chunks",
    "tool_call",
]


def http_module() -> Any:
    """The httpx flavour ``openai`` uses: its default client's base class says which."""
    import openai

    for base in type.mro(openai.DefaultAsyncHttpxClient):
        root = base.__module__.split(".", 1)[0]
        if root in ("httpx2", "httpx"):
            return importlib.import_module(root)
    return importlib.import_module("httpx")


@dataclass(frozen=True)
class HttpError:
    """A reply that is an HTTP error status with an OpenAI-style error body."""

    status: int
    message: str = "scripted failure"
    headers: Mapping[str, str] = field(default_factory=dict)


# A dict is a completion, a list a stream of chunks, an async iterable raw SSE bytes (for
# streams that stall or break off), an exception a transport failure.
Reply = dict[str, Any] | list[dict[str, Any]] | HttpError | BaseException | AsyncIterable[bytes]


def sse(chunk_body: dict[str, Any] | None) -> bytes:
    """One server-sent event carrying ``chunk_body``; ``None`` is the final ``[DONE]``."""
    if chunk_body is None:
        return b"data: [DONE]\n\n"
    return b"data: " + json.dumps(chunk_body).encode() + b"\n\n"


def completion(
    content: str | None = "Hello!",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
    refusal: str | None = None,
    usage: dict[str, Any] | None = None,
    model: str = "gpt-4o-mini-2024-07-18",
    response_id: str = "chatcmpl-scripted",
) -> dict[str, Any]:
    """A non-streamed ``ChatCompletion`` body."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def chunk(
    delta: dict[str, Any] | None = None,
    *,
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
    model: str = "gpt-4o-mini-2024-07-18",
    response_id: str = "chatcmpl-scripted",
) -> dict[str, Any]:
    """One ``ChatCompletionChunk``; with ``delta=None`` and usage, the final usage-only chunk."""
    choices = (
        [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
        if delta is not None or finish_reason is not None
        else []
    )
    body: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage
    return body


def text_chunks(
    pieces: Iterable[str], *, finish_reason: str = "stop", usage: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """A streamed text answer: role chunk, one chunk per piece, the finish, optional usage."""
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in pieces]
    chunks.append(chunk({}, finish_reason=finish_reason))
    if usage is not None:
        chunks.append(chunk(None, usage=usage))
    return chunks


class ScriptedBackend:
    """Replies to ``POST /chat/completions`` from a script; remembers every request body."""

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        fallback: Callable[[dict[str, Any]], Reply] | None = None,
    ) -> None:
        self._replies: deque[Reply] = deque(replies)
        self._fallback = fallback
        self.requests: list[dict[str, Any]] = []
        self._http = http_module()

    def add(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    def client(self, base_url: str = "https://api.openai.com/v1", **options: Any) -> Any:
        """A real ``AsyncOpenAI`` whose transport is this backend."""
        import openai

        transport = self._http.MockTransport(self._handle)
        options.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(
            api_key="sk-scripted-not-a-real-key",
            base_url=base_url,
            http_client=self._http.AsyncClient(transport=transport),
            **options,
        )

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        if self._replies:
            return self._replies.popleft()
        if self._fallback is not None:
            return self._fallback(body)
        return HttpError(500, "the scripted backend has no reply left")

    def _handle(self, request: Any) -> Any:
        body = json.loads(request.content or b"{}")
        self.requests.append(body)
        reply = self._next_reply(body)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, HttpError):
            error = {"error": {"message": reply.message, "type": "scripted", "code": None}}
            return self._http.Response(reply.status, json=error, headers=dict(reply.headers))
        headers = {"x-request-id": f"req_scripted_{len(self.requests)}"}
        if isinstance(reply, dict):
            return self._http.Response(200, json=reply, headers=headers)
        content = b"".join(sse(c) for c in [*reply, None]) if isinstance(reply, list) else reply
        return self._http.Response(
            200, content=content, headers={**headers, "content-type": "text/event-stream"}
        )
