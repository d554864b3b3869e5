"""A model served by an existing engine: any OpenAI-compatible server
(llama.cpp's server, vLLM, Ollama). We never serve models ourselves.

Token counts before sending are estimates (about four characters a token):
these servers do not share one tokenizer endpoint. The counts reported after a
reply come from the server when it sends ``usage``.

A model of a named engine (``[engines.NAME]``) is shown as ``NAME/MODEL`` and
remembers the engine's name; ``list_models`` reads what a server offers from
``/v1/models``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.domain import ChatTurn, GenerationOptions
from assistant.errors import ModelError
from assistant.llm.base import Finished, StopScanner, TextPiece


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


class OpenAICompatibleModel:
    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        context_size: int = 4096,
        timeout: float = 120.0,
        engine: str | None = None,
    ) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model_id = model or "default"
        self.engine = engine
        self.name = f"{engine}/{self.model_id}" if engine else self.model_id
        self.context_size = context_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def count_tokens(self, turns: Sequence[ChatTurn]) -> int:
        return sum(len(t.content) // 4 + 4 for t in turns) + 2

    def stream(
        self,
        turns: Sequence[ChatTurn],
        options: GenerationOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[TextPiece | Finished]:
        import httpx

        body = {
            "model": self.model_id,
            "messages": [{"role": str(t.role), "content": t.content} for t in turns],
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
        scanner = StopScanner(options.stop)
        start = time.perf_counter()
        first: float | None = None
        pieces = 0
        reason = "stop"
        usage: dict = {}
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise ModelError(
                        f"The server at {self.base_url} answered {resp.status_code}: "
                        f"{resp.text[:200]}"
                    )
                for line in resp.iter_lines():
                    if cancel is not None and cancel.is_set():
                        reason = "cancelled"
                        break
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content") or ""
                        if text:
                            if first is None:
                                first = time.perf_counter()
                            pieces += 1
                            emitted = scanner.feed(text)
                            if emitted:
                                yield TextPiece(emitted)
                        if choice.get("finish_reason"):
                            reason = "length" if choice["finish_reason"] == "length" else "stop"
        except httpx.HTTPError as exc:
            raise ModelError(
                f"Could not reach the model server at {self.base_url}: {exc}."
            ) from None
        rest = scanner.flush()
        if rest:
            yield TextPiece(rest)
        end = time.perf_counter()
        first = first or end
        yield Finished(
            finish_reason=reason,
            prompt_tokens=int(usage.get("prompt_tokens") or self.count_tokens(turns)),
            completion_tokens=int(usage.get("completion_tokens") or pieces),
            time_to_first_token_ms=(first - start) * 1000,
            generation_ms=(end - first) * 1000,
        )
