"""Embeddings from an engine: the notes index built through an
OpenAI-compatible ``/v1/embeddings`` endpoint (llama.cpp's server with
``--embedding``, vLLM, text-embeddings-inference...), for a folder that
outgrows one CPU. Chosen with ``embedding_engine = "NAME"`` in config.toml.

It offers what ``NotesService`` asks of an embedder: ``name`` (which the
vector index records: an index built by another model is rebuilt with a
message, never mixed), ``dimension`` (asked of the server once), batched
``embed`` with progress and cancel between batches, and ``count_tokens`` for
chunking. Decision: the engine's tokenizer is not reachable through the
OpenAI API, so passages are sized with the bundled embedding model's word
pieces, the same chunks the local embedder makes. A server that returns one
vector per token (llama.cpp on a model without a pooling type) is mean-pooled
here; every vector is L2-normalised, as the index's cosine search expects.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from assistant.errors import Cancelled, NotesError

BATCH = 32
MAX_LENGTH = 256  # word pieces per passage, as the bundled model's


class RemoteEmbedder:
    def __init__(
        self,
        engine: str,
        base_url: str,
        model: str | None,
        api_key: str | None = None,
        timeout: float = 120.0,
        batch: int = BATCH,
    ) -> None:
        self.engine = engine
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.batch = batch
        self.max_length = MAX_LENGTH
        self.notice: str | None = None
        self.dimension = 0
        self.served_model: str | None = None
        self._lock = threading.Lock()
        self._counter: Any = None
        self._client: Any = None

    # ------------------------------------------------------------- naming
    @property
    def model_name(self) -> str:
        return f"{self.engine}/{self.model or 'default'}"

    @property
    def name(self) -> str:
        """What the index records: engine, the model the server says it ran, dimension."""
        self.load()
        return f"remote:{self.engine}/{self.served_model}@{self.dimension}"

    # ---------------------------------------------------------- tokenizer
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if self._counter is None:
            from tokenizers import Tokenizer

            from assistant.notes.embedder import bundled_model_folder

            tok = Tokenizer.from_file(str(bundled_model_folder() / "tokenizer.json"))
            tok.no_padding()
            tok.no_truncation()
            self._counter = tok
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    # --------------------------------------------------------------- load
    def load(self) -> None:
        """Ask the server once for a vector, to learn its dimension; with no
        model configured, the first one it lists is used (and named)."""
        with self._lock:
            if self.dimension:
                return
            if self.model is None:
                from assistant.errors import AssistantError
                from assistant.llm.remote import list_models

                try:
                    offered = list_models(self.base_url, self.api_key, timeout=self.timeout)
                except AssistantError as exc:
                    raise NotesError(f"The embedding engine {self.engine}: {exc}") from None
                self.model = offered[0].id if offered else None
            vectors, served = self._request(["dimension probe"])
            self.dimension = int(vectors.shape[1])
            self.served_model = self.model or served or "default"

    def _post(self, texts: list[str]) -> dict[str, Any]:
        import httpx

        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(headers=headers, timeout=self.timeout)
        body: dict[str, Any] = {"input": texts, "encoding_format": "float"}
        if self.model:
            body["model"] = self.model
        where = f"The embedding engine {self.engine} at {self.base_url}"
        try:
            resp = self._client.post(f"{self.base_url}/embeddings", json=body)
        except httpx.TimeoutException:
            raise NotesError(f"{where} did not answer within {self.timeout:g} s.") from None
        except httpx.HTTPError as exc:
            raise NotesError(f"{where} could not be reached ({exc}).") from None
        if resp.status_code >= 400:
            hint = (
                " (start llama.cpp's server with --embedding)"
                if resp.status_code in (404, 501)
                else ""
            )
            raise NotesError(f"{where} answered {resp.status_code} to /embeddings{hint}.")
        try:
            data = resp.json()
        except ValueError:
            raise NotesError(f"{where} did not answer /embeddings with JSON.") from None
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise NotesError(f"{where} answered /embeddings without a list of vectors.")
        return data

    def _request(self, texts: list[str]) -> tuple[np.ndarray, str | None]:
        data = self._post(texts)
        items = sorted(
            data["data"], key=lambda d: int(d.get("index", 0)) if isinstance(d, dict) else 0
        )
        if len(items) != len(texts):
            raise NotesError(
                f"The embedding engine {self.engine} returned {len(items)} vectors for "
                f"{len(texts)} passages."
            )
        rows = []
        for item in items:
            raw = np.asarray(
                item.get("embedding") if isinstance(item, dict) else None, dtype=np.float32
            )
            if raw.ndim == 2:  # one vector per token: pool them
                raw = raw.mean(axis=0)
            if raw.ndim != 1 or raw.size == 0 or not np.all(np.isfinite(raw)):
                raise NotesError(
                    f"The embedding engine {self.engine} returned a vector that is not one."
                )
            rows.append(raw)
        if len({r.shape[0] for r in rows}) != 1:
            raise NotesError(f"The embedding engine {self.engine} returned vectors of mixed sizes.")
        vectors = np.vstack(rows)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        model = data.get("model")
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32), (
            str(model) if model else None
        )

    # -------------------------------------------------------------- embed
    def embed(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> np.ndarray:
        self.load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch):
            if cancel is not None and cancel.is_set():
                raise Cancelled("embedding cancelled")
            chunk = [t if t.strip() else " " for t in texts[start : start + self.batch]]
            vectors, _ = self._request(chunk)
            if vectors.shape[1] != self.dimension:
                raise NotesError(
                    f"The embedding engine {self.engine} changed its vector size "
                    f"({self.dimension} -> {vectors.shape[1]}); run the sync again."
                )
            out[start : start + len(chunk)] = vectors
            if progress is not None:
                progress(start + len(chunk))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
