"""The in-process backend: llama-cpp-python on a GGUF file.

We drive ``Llama.generate`` token by token instead of ``create_completion``: it
lets us check the cancel flag between tokens, count tokens exactly, and it
keeps llama-cpp-python's prefix matching, so a second turn only evaluates the
tokens that are new since the last call (the KV cache holds the rest).
"""

from __future__ import annotations

import codecs
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from assistant.domain import ChatTurn, GenerationOptions
from assistant.errors import ContextOverflow, ModelError
from assistant.llm.base import Finished, StopScanner, TextPiece
from assistant.llm.catalog import check_gguf
from assistant.llm.prompting import RenderedPrompt, TemplateFormatter, TranscriptFormatter


def physical_cores() -> int:
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except Exception:  # psutil cannot read topology in some sandboxes
        n = None
    return n or os.cpu_count() or 1


def gpu_offload_supported() -> bool:
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        return False


_QUIET: object | None = None


def quiet_llama_logs() -> None:
    """llama.cpp logs to stderr from C, even with verbose=False (e.g. the SWA
    cache notice); route it to a callback that keeps only errors, and only
    when ASSISTANT_LLAMA_LOG is set."""
    global _QUIET
    if _QUIET is not None:
        return
    import ctypes
    import sys

    import llama_cpp

    show = bool(os.environ.get("ASSISTANT_LLAMA_LOG"))

    @llama_cpp.llama_log_callback
    def _callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if show:
            sys.stderr.write(text.decode("utf-8", "replace"))

    _QUIET = _callback  # keep a reference: C holds only the pointer
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))


class LlamaCppModel:
    """A GGUF model loaded in this process."""

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int | None = None,
        seed: int | None = None,
    ) -> None:
        path = check_gguf(Path(path))
        import llama_cpp

        quiet_llama_logs()
        self.path = path
        self.name = path.name
        self.threads = n_threads or physical_cores()
        if n_gpu_layers is None:
            n_gpu_layers = -1 if gpu_offload_supported() else 0
        self.gpu_layers = n_gpu_layers
        kwargs: dict = dict(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            n_gpu_layers=n_gpu_layers,
            # a full-size sliding-window cache lets Gemma-style models reuse the
            # prompt prefix between turns instead of re-evaluating the history
            swa_full=True,
            verbose=False,
        )
        if seed is not None:
            kwargs["seed"] = seed
        try:
            self.llm = llama_cpp.Llama(**kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"{path} could not be loaded: the file is truncated, damaged, or a model "
                f"this llama.cpp does not support ({exc})."
            ) from None
        self.context_size = self.llm.n_ctx()
        self._vocab = self.llm._model.vocab
        self._is_eog = llama_cpp.llama_vocab_is_eog
        template = self.llm.metadata.get("tokenizer.chat_template")
        self.formatter: TemplateFormatter | TranscriptFormatter
        if template:
            vocab = self.llm
            bos = vocab._model.token_get_text(vocab.token_bos()) if vocab.token_bos() >= 0 else ""
            eos = vocab._model.token_get_text(vocab.token_eos()) if vocab.token_eos() >= 0 else ""
            self.formatter = TemplateFormatter(template, bos_token=bos, eos_token=eos)
        else:
            self.formatter = TranscriptFormatter()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------
    def render(self, turns: Sequence[ChatTurn]) -> RenderedPrompt:
        return self.formatter.render(turns)

    def _tokens(self, rendered: RenderedPrompt) -> list[int]:
        return self.llm.tokenize(
            rendered.text.encode("utf-8"), add_bos=rendered.add_bos, special=True
        )

    def count_tokens(self, turns: Sequence[ChatTurn]) -> int:
        return len(self._tokens(self.render(turns)))

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        """How many leading tokens of ``tokens`` are already in the KV cache."""
        cached = self.llm._input_ids[: self.llm.n_tokens]
        n = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            n += 1
        return n

    def reset_cache(self) -> None:
        with self._lock:
            self.llm.reset()
            self.llm._ctx.kv_cache_clear()

    def is_end_token(self, token: int) -> bool:
        return bool(self._is_eog(self._vocab, token))

    def _ban_end_tokens(self):  # type: ignore[no-untyped-def]
        import numpy as np
        from llama_cpp import LogitsProcessorList

        if not hasattr(self, "_end_tokens"):
            n_vocab = self.llm.n_vocab()
            self._end_tokens = np.array(
                [t for t in range(n_vocab) if self.is_end_token(t)], dtype=np.int64
            )
        ends = self._end_tokens

        def ban(_ids, logits):  # type: ignore[no-untyped-def]
            logits[ends] = -np.inf
            return logits

        return LogitsProcessorList([ban])

    def stream(
        self,
        turns: Sequence[ChatTurn],
        options: GenerationOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[TextPiece | Finished]:
        rendered = self.render(turns)
        tokens = self._tokens(rendered)
        room = self.context_size - len(tokens)
        if room < 1:
            raise ContextOverflow(
                f"The prompt takes {len(tokens)} tokens but the context window holds "
                f"{self.context_size}."
            )
        max_new = min(options.max_tokens, room)
        scanner = StopScanner(tuple(rendered.stop) + tuple(options.stop))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with self._lock:
            if options.seed is not None:
                self.llm.set_seed(options.seed)
            cached = self.cached_prefix(tokens)
            start = time.perf_counter()
            first: float | None = None
            produced = 0
            reason = "length"
            gen = self.llm.generate(
                tokens,
                logits_processor=self._ban_end_tokens() if options.ignore_eos else None,
                top_k=options.top_k,
                top_p=options.top_p,
                min_p=0.05,
                temp=options.temperature,
                repeat_penalty=options.repeat_penalty,
                reset=True,
            )
            try:
                for token in gen:
                    if first is None:
                        first = time.perf_counter()
                    if cancel is not None and cancel.is_set():
                        reason = "cancelled"
                        break
                    if self.is_end_token(token):
                        reason = "stop"
                        break
                    produced += 1
                    piece = decoder.decode(self.llm.detokenize([token]))
                    out = scanner.feed(piece) if piece else ""
                    if out:
                        yield TextPiece(out)
                    if scanner.stopped:
                        reason = "stop"
                        break
                    if produced >= max_new:
                        break
                    if cancel is not None and cancel.is_set():
                        reason = "cancelled"
                        break
            finally:
                gen.close()
            tail = decoder.decode(b"", final=True)
            rest = scanner.feed(tail) if tail else ""
            rest += scanner.flush() if reason != "stop" else ""
            if rest:
                yield TextPiece(rest)
            end = time.perf_counter()
        first = first or end
        yield Finished(
            finish_reason=reason,
            prompt_tokens=len(tokens),
            completion_tokens=produced,
            cached_tokens=cached,
            time_to_first_token_ms=(first - start) * 1000,
            generation_ms=(end - first) * 1000,
        )
