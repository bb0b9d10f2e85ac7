"""A real HTTP server on 127.0.0.1 that speaks enough of the OpenAI Chat Completions API to test against.

It runs its own asyncio loop in a daemon thread, so it serves a test's event loop, a synchronous script
or a benchmark alike, with HTTP/1.1 keep-alive. Each ``POST /v1/chat/completions`` takes the next
scripted :class:`Reply` (or, with an empty script, answers with :func:`mock_reply`: deterministic text,
or schema-valid JSON when a ``json_schema`` response format is asked for). Replies can be JSON or SSE
streams (with a usage chunk when ``stream_options.include_usage`` is asked for), errors with
``Retry-After``, delayed, or hang until the client gives up. Every request is recorded, with the time it
arrived and how it was answered.

Faults (:data:`FAULT_KINDS`) are scripted with ``Reply.fault(kind)``, or drawn for every request by a
``faults`` plan such as :class:`SeededFaults` (a reproducible ~30 % of requests, say). Each fault applies
to a plain and a streamed reply alike: ``malformed_json`` is a bad body or a bad SSE chunk, ``stream_cut``
a body or stream that ends mid-answer, ``stream_stall`` one that stops sending and stays open.

Not a general HTTP server: no pipelining, no TLS, no compression::

    with FakeOpenAIServer(delay_s=1.0) as server:
        server.script(Reply.error(429, "slow down", retry_after_s=0.1), "hello")
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from types import TracebackType
from typing import Any, cast

from lpe_nb.llm import Message, MockLLM
from lpe_nb.llm.text_features import token_count

__all__ = [
    "FAULT_KINDS",
    "PERMANENT_FAULTS",
    "TRANSIENT_FAULTS",
    "FakeOpenAIServer",
    "RecordedRequest",
    "Reply",
    "SeededFaults",
    "mock_reply",
]

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}

TRANSIENT_FAULTS: tuple[str, ...] = (
    "rate_limit",  # 429 with Retry-After
    "server_error",  # 500
    "unavailable",  # 503
    "reset",  # the connection closes before any answer
    "slow",  # the reply comes after the client's timeout (``slow_s``)
    "malformed_json",  # a body (or one SSE chunk) that is not JSON
    "empty_choices",  # a reply with no choices
    "null_content",  # a message whose content is null
    "empty_text",  # whitespace only
    "stream_cut",  # the body or stream ends mid-answer
    "stream_stall",  # the body or stream stops mid-answer and stays open
    "non_json",  # prose where a structured step asked for JSON (a plain text step accepts it)
)
PERMANENT_FAULTS: tuple[str, ...] = ("unauthorized", "unknown_model", "refusal")
FAULT_KINDS: tuple[str, ...] = TRANSIENT_FAULTS + PERMANENT_FAULTS
_FAULT_STATUS = {"rate_limit": 429, "server_error": 500, "unavailable": 503, "unauthorized": 401,
                 "unknown_model": 404}  # fmt: skip
_NON_JSON_TEXT = "Sure! Here is what I think about that, in plain words rather than JSON."


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``text`` None means "what the default reply function says"."""

    text: str | None = None
    status: int = 200
    error_message: str | None = None
    error_param: str | None = None
    retry_after_s: float | None = None
    delay_s: float = 0.0
    hang: bool = False
    include_usage: bool = True
    deltas: tuple[str, ...] | None = None
    fault: str | None = None  # one of FAULT_KINDS

    @classmethod
    def fault_of(cls, kind: str, *, retry_after_s: float = 0.05) -> Reply:
        """A reply that is the fault ``kind`` (see :data:`FAULT_KINDS`); 429s carry ``retry_after_s``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
        status = _FAULT_STATUS.get(kind)
        if status is not None:
            message = {
                429: "Rate limit reached for requests", 500: "The server had an error", 503: "Overloaded",
                401: "Incorrect API key provided.", 404: "The model `fake-model` does not exist.",
            }[status]  # fmt: skip
            return cls(status=status, error_message=message, fault=kind,
                       retry_after_s=retry_after_s if status == 429 else None)  # fmt: skip
        return cls(fault=kind)

    @classmethod
    def error(
        cls, status: int, message: str, *, retry_after_s: float | None = None, param: str | None = None
    ) -> Reply:
        return cls(status=status, error_message=message, retry_after_s=retry_after_s, error_param=param)

    @classmethod
    def hanging(cls) -> Reply:
        """Never answer; the connection stays open until the client closes it or the server stops."""
        return cls(hang=True)


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server saw it; header names are lower-cased, ``body`` is the parsed JSON."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    at: float = 0.0  # time.time() when it arrived
    fault: str | None = None  # the fault it was answered with (None: a good reply)

    @property
    def json(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.body) if isinstance(self.body, dict) else {}

    @property
    def text(self) -> str:
        """All the messages' text, joined: what a test looks in to tell which job and step sent it."""
        return "\n".join(
            _content_text(m.get("content")) for m in self.json.get("messages", []) if isinstance(m, dict)
        )


class SeededFaults:
    """A reproducible fault plan: each request is a fault with probability ``rate``, its kind drawn from
    ``kinds``; the same seed gives the same sequence. ``Reply.fault_of`` builds each fault."""

    def __init__(
        self,
        rate: float,
        kinds: Collection[str] = TRANSIENT_FAULTS,
        *,
        seed: int = 0,
        retry_after_s: float = 0.05,
    ) -> None:
        self.rate = rate
        self.kinds = tuple(kinds)
        self.retry_after_s = retry_after_s
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            return Reply.fault_of(self._random.choice(self.kinds), retry_after_s=self.retry_after_s)


def mock_reply(request: RecordedRequest) -> str:
    """The default answer: what :class:`MockLLM` says to the request's messages and response format."""
    messages = [
        cast(Message, {"role": str(m.get("role", "user")), "content": _content_text(m.get("content"))})
        for m in request.json.get("messages", [])
        if isinstance(m, dict)
    ]
    response_format = request.json.get("response_format") or {}
    schema: Mapping[str, Any] | None = None
    if response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema") or {"type": "object"}
    elif response_format.get("type") == "json_object":
        schema = {"type": "object"}
    return MockLLM().reply_text(messages, json_schema=schema)


class FakeOpenAIServer:
    """The server; use as a context manager, or ``start()``/``stop()``.

    ``delay_s`` (settable while running) delays every completion reply. ``api_key`` set means requests
    without ``Authorization: Bearer <api_key>`` get 401. ``models`` set means other models get 404.
    ``reject_response_formats`` lists response-format types answered with 400 (``param`` response_format),
    like a server that doesn't support them. ``faults`` is consulted for each request the script does not
    answer: a :class:`Reply` (a fault) or None for a good reply. ``slow_s`` is how late a ``slow`` fault
    answers. Attributes read from other threads are guarded by a lock.
    """

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        default_reply: Callable[[RecordedRequest], str] = mock_reply,
        api_key: str | None = None,
        models: Collection[str] | None = None,
        reject_response_formats: Collection[str] = (),
        stream_chunk_delay_s: float = 0.0,
        faults: Callable[[RecordedRequest], Reply | None] | None = None,
        slow_s: float = 3.0,
    ) -> None:
        self.delay_s = delay_s
        self.default_reply = default_reply
        self.api_key = api_key
        self.models = models
        self.reject_response_formats = frozenset(reject_response_formats)
        self.stream_chunk_delay_s = stream_chunk_delay_s
        self.faults = faults
        self.slow_s = slow_s
        self._changed = threading.Condition()
        self._script: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._aborted = 0
        self._connection_count = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # -- control, from any thread ------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="fake-openai-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout=10):
            raise RuntimeError("the fake OpenAI server did not start within 10 s")
        if self._startup_error is not None:
            raise RuntimeError("the fake OpenAI server failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections (hanging replies end) and join the thread."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def script(self, *replies: Reply | str) -> None:
        """Queue replies for the next completion requests, in order; a string is a plain text reply."""
        with self._changed:
            self._script.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every completion request so far, oldest first (a copy)."""
        with self._changed:
            return list(self._requests)

    @property
    def call_count(self) -> int:
        with self._changed:
            return len(self._requests)

    @property
    def aborted_count(self) -> int:
        """Completion requests whose client closed the connection before the reply was sent."""
        with self._changed:
            return self._aborted

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far: with keep-alive, far fewer than requests."""
        with self._changed:
            return self._connection_count

    @property
    def in_flight(self) -> int:
        """Completion requests being answered now (a request whose client hung up is no longer)."""
        with self._changed:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most completion requests that were being answered at the same time."""
        with self._changed:
            return self._max_in_flight

    def wait_for(self, predicate: Callable[[FakeOpenAIServer], bool], timeout_s: float) -> bool:
        """Block until ``predicate(self)`` holds (re-checked whenever a request arrives, ends or aborts)."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout=timeout_s)

    async def wait_until(self, predicate: Callable[[FakeOpenAIServer], bool], timeout_s: float = 5.0) -> None:
        """:meth:`wait_for` for async code; raises TimeoutError when ``timeout_s`` passes first."""
        if not await asyncio.to_thread(self.wait_for, predicate, timeout_s):
            raise TimeoutError(f"the fake OpenAI server did not reach the expected state in {timeout_s} s")

    # -- the server, on its own thread ---------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:
            self._startup_error = exc
            ready.set()
        finally:
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._handle_connection, "127.0.0.1", 0)
        self._port = server.sockets[0].getsockname()[1]
        ready.set()
        await self._stopping.wait()
        server.close()
        # Closing the sockets ends every handler through EOF. Cancelling the handlers instead makes
        # asyncio (3.11) log a spurious "Exception in callback" for each cancelled connection task.
        for writer in list(self._writers):
            writer.close()
        await asyncio.wait_for(asyncio.gather(*self._connections, return_exceptions=True), timeout=10)
        await server.wait_closed()

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        with self._changed:
            self._connection_count += 1
        try:
            while await self._handle_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away or sent something this server does not speak
        finally:
            self._connections.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handle_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; True to keep the connection open for the next."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines if line)
        }
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        request = RecordedRequest(method, target.split("?", 1)[0], headers, json.loads(raw) if raw else None)
        keep_alive = headers.get("connection", "").lower() != "close"
        if method == "POST" and request.path == "/v1/chat/completions":
            return await self._complete(request, reader, writer) and keep_alive
        if method == "GET" and request.path == "/v1/models":
            models = sorted(self.models or ["fake-model"])
            payload = {
                "object": "list",
                "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in models],
            }
            await _write_json(writer, 200, payload)
        else:
            await _write_json(writer, 404, _error_body(404, f"no route {method} {request.path}"))
        return keep_alive

    async def _complete(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        planned = None if self._script or self.faults is None else self.faults(request)
        with self._changed:
            reply = self._script.popleft() if self._script else planned or Reply()
            if reply.fault == "slow":
                reply = replace(reply, delay_s=reply.delay_s + self.slow_s)
            request = replace(request, at=time.time(), fault=reply.fault)
            self._requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self._changed.notify_all()
        try:
            delay = None if reply.hang else self.delay_s + reply.delay_s
            if (delay is None or delay > 0) and await _client_left_within(reader, delay):
                if self._stopping is not None and not self._stopping.is_set():  # else the server hung up
                    with self._changed:
                        self._aborted += 1
                return False
            return await self._answer(request, reply, reader, writer)
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    async def _answer(
        self,
        request: RecordedRequest,
        reply: Reply,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer with ``reply``; False when the connection must close (a fault that breaks it)."""
        body = request.json
        response_format = (body.get("response_format") or {}).get("type")
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            await _write_json(
                writer, 401, _error_body(401, "Incorrect API key provided.", code="invalid_api_key")
            )
        elif self.models is not None and body.get("model") not in self.models:
            message = f"The model `{body.get('model')}` does not exist."
            await _write_json(writer, 404, _error_body(404, message, code="model_not_found"))
        elif response_format in self.reject_response_formats:
            message = f"response_format of type '{response_format}' is not supported by this model"
            await _write_json(writer, 400, _error_body(400, message, param="response_format"))
        elif reply.status != 200:
            extra = {"retry-after": f"{reply.retry_after_s:g}"} if reply.retry_after_s is not None else {}
            code = {"unauthorized": "invalid_api_key", "unknown_model": "model_not_found"}.get(
                reply.fault or ""
            )
            error = _error_body(
                reply.status, reply.error_message or HTTPStatus(reply.status).phrase, reply.error_param, code
            )
            await _write_json(writer, reply.status, error, extra)
        elif reply.fault is not None and reply.fault not in ("slow", "non_json"):
            return await self._answer_fault(reply.fault, body, reader, writer)
        else:
            text = reply.text if reply.text is not None else self.default_reply(request)
            if reply.fault == "non_json":
                text = _NON_JSON_TEXT
            usage = _usage(body, text) if reply.include_usage else None
            if body.get("stream"):
                wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                deltas = reply.deltas if reply.deltas is not None else _split(text)
                await self._write_stream(writer, body, deltas, usage if wants_usage else None)
            else:
                await _write_json(writer, 200, _completion(body, text, usage))
        return True

    async def _answer_fault(
        self, fault: str, body: Mapping[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer a request with a fault that is not an HTTP error status; False to close the connection."""
        if fault == "reset":
            return False  # closed without a byte of answer
        stream = bool(body.get("stream"))
        text = "The beginning of an answer that never"
        if fault in ("stream_cut", "stream_stall") and not stream:
            data = json.dumps(_completion(body, text + " ends, and more after it", None)).encode()
            writer.write(_head(200, {"content-type": "application/json", "content-length": str(len(data))}))
            writer.write(data[: len(data) // 2])
            await writer.drain()
            if fault == "stream_stall":
                await _client_left_within(reader, None)
            return False
        if not stream:
            choice_text: Any = {"empty_text": " \n ", "null_content": None}.get(fault, text)
            if fault == "malformed_json":
                payload = (
                    b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "mess'
                )
                payload += b'age": {"role": "assistant", "content": "Paris"'
                headers = {"content-type": "application/json", "content-length": str(len(payload))}
                writer.write(_head(200, headers) + payload)
                await writer.drain()
                return True
            completion = _completion(body, "", None)
            if fault == "empty_choices":
                completion["choices"] = []
            elif fault == "refusal":
                completion["choices"][0]["message"] = {"role": "assistant", "content": None,
                                                       "refusal": "I can't help with that."}  # fmt: skip
            else:
                completion["choices"][0]["message"]["content"] = choice_text
            await _write_json(writer, 200, completion)
            return True
        writer.write(_head(200, {"content-type": "text/event-stream", "transfer-encoding": "chunked"}))
        chunk_id = f"chatcmpl-fake-{time.monotonic_ns()}"
        events: list[bytes] = [_sse(_chunk(chunk_id, body, {"role": "assistant", "content": ""}))]
        finish = True
        if fault == "empty_choices":  # every chunk, as a server that only sends usage
            events = [_sse({**_chunk(chunk_id, body, {}), "choices": []})] * 2
            finish = False
        elif fault == "null_content":
            events.append(_sse(_chunk(chunk_id, body, {"content": None})))
        elif fault == "refusal":
            events.append(_sse(_chunk(chunk_id, body, {"refusal": "I can't help with that."})))
        elif fault == "empty_text":
            events += [_sse(_chunk(chunk_id, body, {"content": delta})) for delta in (" ", "\n", " ")]
        elif fault == "malformed_json":
            events.append(_sse(_chunk(chunk_id, body, {"content": "The beginning "})))
            events.append(b'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "of\n\n')
        else:  # stream_cut, stream_stall: part of the answer, then nothing more
            events += [_sse(_chunk(chunk_id, body, {"content": delta})) for delta in _split(text)]
            for event in events:
                _write_chunk(writer, event)
            await writer.drain()
            if fault == "stream_stall":
                await _client_left_within(reader, None)
            return False
        if finish:
            events.append(_sse(_chunk(chunk_id, body, {}, finish_reason="stop")))
        events.append(b"data: [DONE]\n\n")
        for event in events:
            _write_chunk(writer, event)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _write_stream(
        self,
        writer: asyncio.StreamWriter,
        body: Mapping[str, Any],
        deltas: Collection[str],
        usage: dict[str, int] | None,
    ) -> None:
        head = _head(200, {"content-type": "text/event-stream", "transfer-encoding": "chunked"})
        writer.write(head)
        chunk_id = f"chatcmpl-fake-{time.monotonic_ns()}"
        events: list[dict[str, Any]] = [_chunk(chunk_id, body, {"role": "assistant", "content": ""})]
        events += [_chunk(chunk_id, body, {"content": delta}) for delta in deltas]
        events.append(_chunk(chunk_id, body, {}, finish_reason="stop"))
        if usage is not None:
            events.append({**_chunk(chunk_id, body, {}), "choices": [], "usage": usage})
        for event in events:
            _write_chunk(writer, f"data: {json.dumps(event)}\n\n".encode())
            await writer.drain()
            if self.stream_chunk_delay_s:
                await asyncio.sleep(self.stream_chunk_delay_s)
        _write_chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def _client_left_within(reader: asyncio.StreamReader, timeout_s: float | None) -> bool:
    """Wait up to ``timeout_s`` (None: forever) for the client to close; True if it did."""
    try:
        data = await asyncio.wait_for(reader.read(1), timeout_s)
    except asyncio.TimeoutError:
        return False
    if data:
        raise ConnectionError("pipelined requests are not supported")
    return True


def _sse(event: Mapping[str, Any]) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


def _head(status: int, headers: Mapping[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _write_json(
    writer: asyncio.StreamWriter, status: int, payload: Any, extra_headers: Mapping[str, str] | None = None
) -> None:
    data = json.dumps(payload).encode()
    headers = {"content-type": "application/json", "content-length": str(len(data)), **(extra_headers or {})}
    writer.write(_head(status, headers) + data)
    await writer.drain()


def _write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def _error_body(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "rate_limit_error" if status == 429 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def _usage(body: Mapping[str, Any], text: str) -> dict[str, int]:
    prompt = sum(
        token_count(_content_text(m.get("content"))) for m in body.get("messages", []) if isinstance(m, dict)
    )
    completion = token_count(text)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(body: Mapping[str, Any], text: str, usage: dict[str, int] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
    }
    if usage is not None:
        payload["usage"] = usage
    return payload


def _chunk(
    chunk_id: str, body: Mapping[str, Any], delta: dict[str, Any], finish_reason: str | None = None
) -> dict[str, Any]:
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def _split(text: str) -> list[str]:
    """Word-sized deltas (each word with the whitespace after it), like a tokenizer would stream."""
    return re.findall(r"\S+\s*|\s+", text)
