"""A model served by an existing engine: any OpenAI-compatible server
(llama.cpp's server, vLLM, Ollama). We never serve models ourselves.

Token counts before sending are estimates (about four characters a token):
these servers do not share one tokenizer endpoint. The counts reported after a
reply come from the server when it sends ``usage``.

A model of a named engine (``[engines.NAME]``) is shown as ``NAME/MODEL`` and
remembers the engine's name; ``list_models`` reads what a server offers from
``/v1/models``.

The decision a reader must know: the HTTP exchange runs on a helper thread
that hands the response over a queue, line by line. The caller's thread never
blocks in a socket read, so a cancel (the first Ctrl-C, the UI's stop key)
ends the reply within a poll interval whatever the server does, and silence
is measured by the caller: longer than ``timeout`` seconds before the first
line or between two lines is a ``ModelError``. Every other way a server can
fail is one sentence too: a refused or slow connection, an error status, a
body that is not an event stream (a web page, binary data), a connection cut
mid-reply, a stream that ends without its final event. A server that ignores
``stream`` and answers with one JSON completion is accepted.

Tools go out as OpenAI ``tools``; the calls come back as ``tool_calls``
deltas (an index, then the id and name, then the arguments a piece at a
time), put together by index and handed on as one ``ToolCalls`` event at the
end of the reply.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.domain import ChatTurn, GenerationOptions, Role, ToolCall, ToolSpec
from assistant.errors import ModelError
from assistant.llm.base import Finished, StopScanner, TextPiece, ToolCalls

if TYPE_CHECKING:
    import httpx

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_TIMEOUT = 60.0  # the longest silence before the first line or between two lines
POLL_SECONDS = 0.05  # how often the waiting thread looks at the cancel flag
MAX_LINE_BYTES = 4 * 2**20  # an event line longer than this is not an event stream
MAX_JSON_BYTES = 16 * 2**20
_BINARY_TYPES = ("application/octet-stream", "image/", "audio/", "video/", "application/zip")
_SSE_FIELDS = ("event", "id", "retry")


class _Exchange:
    """One request on the helper thread; what it reads goes to ``items`` as
    ``(kind, value)``: ``head`` (content type), ``line`` (bytes), ``json``
    (a whole body), ``end``, or ``error`` (the exception)."""

    def __init__(self, client: httpx.Client, body: dict[str, Any]) -> None:
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.stop = threading.Event()
        self._client = client
        self._body = body
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._open = True
        self._thread = threading.Thread(target=self._run, name="model-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def abandon(self, *, wake: bool) -> None:
        """Stop reading. With ``wake``, a read blocked on a silent server is
        woken up by shutting its socket down (only while the response is
        still open, so a connection back in the pool is never touched)."""
        self.stop.set()
        if not wake:
            return
        with self._lock:
            if self._open and self._socket is not None and self._thread.is_alive():
                try:
                    self._socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _run(self) -> None:
        try:
            with self._client.stream("POST", "/chat/completions", json=self._body) as resp:
                try:
                    stream = resp.extensions.get("network_stream")
                    with self._lock:
                        self._socket = stream.get_extra_info("socket") if stream else None
                    self._read(resp)
                finally:
                    with self._lock:
                        self._open = False
        except Exception as exc:  # handed to the caller, which words it
            self.items.put(("error", exc))

    def _read(self, resp: httpx.Response) -> None:
        if self.stop.is_set():
            return
        if resp.status_code >= 400:
            self.items.put(("status", (resp.status_code, self._body_start(resp, 4000))))
            return
        content_type = resp.headers.get("content-type", "").lower()
        self.items.put(("head", content_type))
        if "json" in content_type:
            self.items.put(("json", self._body_start(resp, MAX_JSON_BYTES)))
            return
        if content_type.startswith("text/html") or content_type.startswith(_BINARY_TYPES):
            return
        buffer = b""
        for chunk in resp.iter_bytes():
            if self.stop.is_set():
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                self.items.put(("line", line))
            if len(buffer) > MAX_LINE_BYTES:
                self.items.put(("line", buffer[:200]))
                return
        if buffer:
            self.items.put(("line", buffer))
        self.items.put(("end", None))

    @staticmethod
    def _body_start(resp: httpx.Response, limit: int) -> bytes:
        data = b""
        for chunk in resp.iter_bytes():
            data += chunk
            if len(data) >= limit:
                break
        return data[:limit]


@dataclass(frozen=True)
class RemoteModelInfo:
    id: str
    context_length: int | None = None  # when the server says (vLLM, llama.cpp, Ollama)
    owned_by: str = ""


def _context_of(entry: dict[str, Any]) -> int | None:
    for key in ("max_model_len", "context_length", "context_window", "n_ctx"):
        value = entry.get(key)
        if isinstance(value, int) and value > 0:
            return value
    meta = entry.get("meta")
    if isinstance(meta, dict):
        for key in ("n_ctx", "n_ctx_train"):
            value = meta.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


def list_models(
    base_url: str, api_key: str | None = None, timeout: float = 10.0
) -> list[RemoteModelInfo]:
    """The models an OpenAI-compatible server offers (``GET /models``)."""
    import httpx

    base = base_url.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        resp = httpx.get(f"{base}/models", headers=headers, timeout=timeout)
    except httpx.InvalidURL as exc:  # not an HTTPError: the address itself is wrong
        raise ModelError(f"{base!r} is not a web address a model server has ({exc}).") from None
    except httpx.TimeoutException:
        raise ModelError(
            f"The model server at {base} did not answer within {timeout:g} s."
        ) from None
    except httpx.HTTPError as exc:
        raise ModelError(f"Could not reach the model server at {base}: {exc}.") from None
    if resp.status_code in (401, 403):
        raise ModelError(
            f"The model server at {base} refused the request ({resp.status_code}); "
            "check the API key in the environment variable the engine names."
        )
    if resp.status_code >= 400:
        raise ModelError(f"The model server at {base} answered {resp.status_code} for /models.")
    try:
        data = resp.json()
    except ValueError:
        raise ModelError(f"The model server at {base} did not answer /models with JSON.") from None
    entries = data.get("data") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ModelError(f"The model server at {base} answered /models without a list.")
    found = []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("id"):
            found.append(
                RemoteModelInfo(
                    str(entry["id"]), _context_of(entry), str(entry.get("owned_by") or "")
                )
            )
    return found


def openai_message(turn: ChatTurn) -> dict[str, Any]:
    """A turn in the chat completions API's shape (arguments as a JSON string)."""
    message: dict[str, Any] = {"role": str(turn.role), "content": turn.content}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for call in turn.tool_calls
        ]
    if turn.role == Role.TOOL:
        message["tool_call_id"] = turn.tool_call_id or ""
    return message


class _CallParts:
    """A tool call arriving in deltas: id and name once, the arguments in pieces."""

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []

    def add(self, delta: dict[str, Any]) -> None:
        if isinstance(delta.get("id"), str) and delta["id"]:
            self.id = delta["id"]
        function = delta.get("function")
        if isinstance(function, dict):
            name = function.get("name")
            if isinstance(name, str) and name and not self.name:
                self.name = name
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                self.arguments.append(arguments)
            elif isinstance(arguments, dict):  # a server that sends an object
                self.arguments.append(json.dumps(arguments))

    def call(self, base_url: str) -> ToolCall:
        from assistant.llm.toolcalls import new_call_id

        text = "".join(self.arguments).strip()
        try:
            arguments = json.loads(text) if text else {}
        except ValueError:
            raise ModelError(
                f"The model server at {base_url} sent the arguments of a call to "
                f"{self.name or 'a tool'} that are not JSON ('{text[:60]}')."
            ) from None
        if not isinstance(arguments, dict):
            arguments = {"value": arguments}
        return ToolCall(self.id or new_call_id(), self.name, arguments)


class OpenAICompatibleModel:
    # a chat-completions server answers instructions (its chat template is its own)
    can_propose_memories = True
    # Servers that speak OpenAI's chat completions take ``tools``; one that
    # cannot says so in its answer, which becomes the reply's one sentence.
    supports_tools = True
    base_model = False
    sampling_defaults: dict[str, Any] = {}  # the server's model has a chat template

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        context_size: int = 4096,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        engine: str | None = None,
        tool_choice: str | dict[str, Any] = "auto",
    ) -> None:
        """``tool_choice`` goes with ``tools``: "auto" (OpenAI's default, said
        outright because llama.cpp's Python server offers no tools without
        it), "required", or ``{"type": "function", "function": {"name": N}}``."""
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model_id = model or "default"
        self.engine = engine
        self.tool_choice = tool_choice
        self.name = f"{engine}/{self.model_id}" if engine else self.model_id
        self.context_size = context_size
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # httpx's own read timeout is only a backstop that frees the helper
        # thread; the caller measures silence itself (see the module docstring).
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout + 5, connect=self.connect_timeout),
        )

    def close(self) -> None:
        self._client.close()

    def count_tokens(self, turns: Sequence[ChatTurn]) -> int:
        return sum(len(t.content) // 4 + 4 for t in turns) + 2

    def prepare_next(
        self, turns: Sequence[ChatTurn], cancel: threading.Event | None = None
    ) -> None:
        """The server keeps its own prompt cache: nothing to do here."""

    def stream(
        self,
        turns: Sequence[ChatTurn],
        options: GenerationOptions,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> Iterator[TextPiece | ToolCalls | Finished]:
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": [openai_message(t) for t in turns],
            "stream": True,
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "stream_options": {"include_usage": True},
        }
        if options.seed is not None:
            body["seed"] = options.seed
        if options.stop:
            body["stop"] = list(options.stop)
        if tools:
            body["tools"] = [t.function() for t in tools]
            body["tool_choice"] = self.tool_choice
        calls: dict[int, _CallParts] = {}
        scanner = StopScanner(options.stop)
        start = time.perf_counter()
        first: float | None = None
        pieces = 0
        reason: str | None = None
        usage: dict[str, Any] = {}
        events = 0  # data events seen
        ended = False  # [DONE], or a whole JSON completion
        exchange = _Exchange(self._client, body)
        exchange.start()
        last_heard = time.monotonic()
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    reason = "cancelled"
                    break
                try:
                    kind, value = exchange.items.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    if time.monotonic() - last_heard > self.timeout:
                        raise ModelError(self._silence(events > 0)) from None
                    continue
                last_heard = time.monotonic()
                if kind == "error":
                    raise ModelError(self._http_failure(value, events > 0)) from None
                if kind == "status":
                    raise ModelError(self._status_failure(*value))
                if kind == "head":
                    self._check_content_type(value)
                    continue
                if kind == "end":
                    break
                if kind == "json":
                    chunk = self._json_completion(value)
                    events += 1
                    ended = True
                else:
                    data = self._event_data(value, events)
                    if data is None:
                        continue
                    events += 1
                    if data == "[DONE]":
                        ended = True
                        break
                    chunk = self._parse_event(data)
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    if not isinstance(choice, dict):
                        continue
                    message = choice.get("delta") or choice.get("message") or {}
                    text = message.get("content") if isinstance(message, dict) else None
                    if isinstance(text, str) and text:
                        if first is None:
                            first = time.perf_counter()
                        pieces += 1
                        emitted = scanner.feed(text)
                        if emitted:
                            yield TextPiece(emitted)
                    deltas = message.get("tool_calls") if isinstance(message, dict) else None
                    if tools and isinstance(deltas, list):
                        if first is None:
                            first = time.perf_counter()
                        for n, delta in enumerate(deltas):
                            if isinstance(delta, dict):
                                index = delta.get("index")
                                key = index if isinstance(index, int) else n
                                calls.setdefault(key, _CallParts()).add(delta)
                    if choice.get("finish_reason"):
                        reason = "length" if choice["finish_reason"] == "length" else "stop"
                if ended:
                    break
        finally:
            exchange.abandon(wake=not ended)
        if reason != "cancelled" and not ended and reason is None:
            if events == 0:
                raise ModelError(
                    f"The model server at {self.base_url} answered with an empty body "
                    "instead of an event stream."
                )
            raise ModelError(
                f"The model server at {self.base_url} ended the reply before it was finished "
                "(the stream stopped without its final event)."
            )
        rest = scanner.flush()
        if rest and reason != "cancelled":
            yield TextPiece(rest)
        if calls and reason not in ("cancelled", "length"):
            asked = [calls[k].call(self.base_url) for k in sorted(calls)]
            asked = [c for c in asked if c.name]
            if asked:
                yield ToolCalls(tuple(asked))
                reason = "tool_calls"
        end = time.perf_counter()
        first = first or end
        yield Finished(
            finish_reason=reason or "stop",
            prompt_tokens=int(usage.get("prompt_tokens") or self.count_tokens(turns)),
            completion_tokens=int(usage.get("completion_tokens") or pieces),
            time_to_first_token_ms=(first - start) * 1000,
            generation_ms=(end - first) * 1000,
        )

    # ------------------------------------------------------------ sentences
    def _not_a_stream(self, what: str) -> str:
        return (
            f"The server at {self.base_url} answered with {what} instead of an event stream; "
            "check that base_url is the address of an OpenAI-compatible API (it usually ends "
            "in /v1)."
        )

    def _check_content_type(self, content_type: str) -> None:
        if content_type.startswith("text/html"):
            raise ModelError(self._not_a_stream("a web page (text/html)"))
        if content_type.startswith(_BINARY_TYPES):
            raise ModelError(self._not_a_stream(f"binary data ({content_type.split(';')[0]})"))

    def _event_data(self, raw: bytes, events: int) -> str | None:
        """The data of one event-stream line; None for lines that carry none
        (blank lines, comments, other fields); a ModelError for a line that
        cannot belong to an event stream."""
        try:
            line = raw.rstrip(b"\r").decode("utf-8")
        except UnicodeDecodeError:
            raise ModelError(self._not_a_stream("binary data")) from None
        if not line or line.startswith(":"):
            return None
        field, colon, value = line.partition(":")
        if colon and field in _SSE_FIELDS:
            return None
        if colon and field == "data":
            return value.strip()
        if "\x00" in line or "\ufffd" in line:
            raise ModelError(self._not_a_stream("binary data"))
        if line.lstrip().startswith("<"):
            raise ModelError(self._not_a_stream("a web page"))
        shown = line.strip()[:60]
        where = "in the middle of the reply" if events else "first"
        raise ModelError(self._not_a_stream(f"text that is not an event ('{shown}' {where})"))

    def _parse_event(self, data: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise ModelError(
                f"The model server at {self.base_url} sent an event that is not JSON "
                f"('{data[:60]}')."
            ) from None
        if not isinstance(chunk, dict):
            raise ModelError(
                f"The model server at {self.base_url} sent an event that is not a JSON object."
            )
        if chunk.get("error"):
            raise ModelError(
                f"The model server at {self.base_url} reported an error: "
                f"{_error_text(chunk['error'])}."
            )
        return chunk

    def _json_completion(self, raw: bytes) -> dict[str, Any]:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ModelError(self._not_a_stream("a body that is not valid JSON")) from None
        if isinstance(data, dict) and data.get("error"):
            raise ModelError(
                f"The model server at {self.base_url} reported an error: "
                f"{_error_text(data['error'])}."
            )
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise ModelError(self._not_a_stream("JSON that is not a chat completion"))
        return data

    def _status_failure(self, status: int, raw: bytes) -> str:
        text = raw.decode("utf-8", "replace").strip()
        try:
            parsed = json.loads(text)
            if isinstance(parsed, dict) and parsed.get("error"):
                text = _error_text(parsed["error"])
            elif isinstance(parsed, dict) and parsed.get("detail"):
                text = _error_text(parsed["detail"])
        except ValueError:
            if text.lstrip().startswith("<"):
                text = "a web page"
        text = " ".join(text.split())[:200].rstrip(".")
        return f"The server at {self.base_url} answered {status}: {text or 'no details'}."

    def _silence(self, started: bool) -> str:
        if started:
            return (
                f"The model server at {self.base_url} stopped in the middle of the reply: "
                f"nothing for {self.timeout:g} s (raise server_timeout to wait longer)."
            )
        return (
            f"The model server at {self.base_url} sent nothing for {self.timeout:g} s; it may be "
            "stuck or busy (raise server_timeout to wait longer)."
        )

    def _http_failure(self, exc: BaseException, started: bool) -> str:
        import httpx

        if isinstance(exc, ModelError):
            return str(exc)
        if isinstance(exc, httpx.ConnectTimeout):
            return (
                f"Could not reach the model server at {self.base_url} within "
                f"{self.connect_timeout:g} s; check that it is running and that base_url is right."
            )
        if isinstance(exc, httpx.ConnectError):
            why = str(exc).split("] ", 1)[-1].strip().rstrip(".").lower() or "no connection"
            return (
                f"Could not reach the model server at {self.base_url} ({why}); check that it "
                "is running and that base_url is right."
            )
        if isinstance(exc, httpx.TimeoutException):
            return self._silence(started)
        if isinstance(exc, httpx.TransportError):
            if started:
                return (
                    f"The model server at {self.base_url} cut the connection in the middle "
                    "of the reply."
                )
            return f"The model server at {self.base_url} closed the connection without answering."
        if isinstance(exc, httpx.HTTPError):
            return f"The model server at {self.base_url} could not be used: {exc}."
        raise exc


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        error = error.get("message") or error.get("detail") or json.dumps(error)
    return " ".join(str(error).split())[:200].rstrip(".")
