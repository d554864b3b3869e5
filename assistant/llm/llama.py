"""The in-process backend: llama-cpp-python on a GGUF file.

We drive ``Llama.generate`` token by token instead of ``create_completion``: it
lets us check the cancel flag between tokens, count tokens exactly, and it
keeps llama-cpp-python's prefix matching, so a second turn only evaluates the
tokens that are new since the last call (the KV cache holds the rest).

Before loading, the GGUF's header and tensor table are read (and checked to
be whole) with ``gguf_meta``; with no context size given, the context is the
largest that fits in free memory up to the model's trained length, and a
model that will not fit gets ``fit_notice``, one sentence saying what would.
With a ``StateCache``, the KV cache of a conversation is saved after each
reply and read back when a new process continues it.

The one decision to know: prompts are evaluated in batches that start at
multiples of ``EVAL_BATCH`` counted from the first token, whatever is already
in the cache. llama.cpp's numbers for a token depend on the batch it was
evaluated in (its kernels round differently by batch shape: a token evaluated
alone moves the logits by up to 0.8), so a reply after a restored or reused
prefix is the same as a cold one only when every cached position was computed
in the batch a cold run would use. Only whole aligned batches of a prompt are
kept for reuse ("trusted"); the positions after them, and the tokens the
model generated one by one, are evaluated again next time.
"""

from __future__ import annotations

import codecs
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant.domain import ChatTurn, GenerationOptions, ToolCall, ToolSpec
from assistant.errors import ContextOverflow, ModelError
from assistant.llm.base import Finished, StopScanner, TextPiece, ToolCalls
from assistant.llm.catalog import check_gguf
from assistant.llm.fit import BATCH
from assistant.llm.prompting import (
    TRANSCRIPT_SAMPLING,
    RenderedPrompt,
    TemplateFormatter,
    TranscriptFormatter,
)
from assistant.llm.state_cache import MIN_SAVE_TOKENS, StateCache
from assistant.llm.toolcalls import ToolCallFormat, ToolCallScanner, detect_format

# Prompt batch size: every batch starts at a multiple of it (see above), so
# reusing a cached prefix re-evaluates fewer than this many of its tokens;
# bench/restore.py prints the prompt speed at each size. The fit estimate
# sizes llama.cpp's compute buffers by it too.
EVAL_BATCH = BATCH


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


def _read_through(path: Path, progress: Callable[[float], None]) -> None:
    """Read every part of the model once (into the OS page cache, which the
    memory map then uses), reporting the fraction read; 0.95 when done, the
    rest is llama.cpp's own load."""
    from assistant.llm.gguf_meta import split_parts

    parts = split_parts(path)
    total = sum(p.stat().st_size for p in parts) or 1
    done = 0
    block = bytearray(8 << 20)
    for part in parts:
        with open(part, "rb", buffering=0) as fh:
            while n := fh.readinto(block):
                done += n
                progress(0.95 * done / total)


class LlamaCppModel:
    """A GGUF model loaded in this process."""

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int | None = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int | None = None,
        seed: int | None = None,
        info_cache: Path | None = None,
        state_cache: Callable[[LlamaCppModel], StateCache | None] | None = None,
        name: str | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        """``n_ctx`` None: the largest context that fits (see ``fit``).
        ``state_cache`` builds the cache of saved states once the model is
        loaded (it needs the model's settings); ``name`` is what replies
        record (default: the file name). With ``progress`` (0.0 to 1.0), the
        weights are read through once first, so the fraction follows the
        slow part (the disk) and the first reply does not wait for it."""
        from assistant.llm import fit
        from assistant.llm.gguf_meta import cached_describe

        path = check_gguf(Path(path))
        self.info = cached_describe(path, info_cache)
        import llama_cpp

        quiet_llama_logs()
        self.path = path
        self.name = name or path.name
        self.threads = n_threads or physical_cores()
        if n_gpu_layers is None:
            n_gpu_layers = -1 if gpu_offload_supported() else 0
        self.gpu_layers = n_gpu_layers
        free = fit.free_memory()
        on_gpu = n_gpu_layers != 0 and free.gpu_build
        self.context_auto = n_ctx is None
        if n_ctx is None:
            n_ctx = fit.default_context(self.info, free, on_gpu)
        self.fit = fit.check_fit(self.info, n_ctx, free, on_gpu)
        fixed = not self.context_auto
        refused = fit.refusal(
            self.info, n_ctx, free, on_gpu=on_gpu, label=self.name, context_fixed=fixed
        )
        if refused:  # before anything is allocated: never an OOM kill
            raise ModelError(refused)
        self.fit_notice: str | None = fit.advice(
            self.info, n_ctx, free, on_gpu=on_gpu, label=self.name, context_fixed=fixed
        )
        if progress is not None:
            _read_through(path, progress)
        kwargs: dict = dict(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            n_gpu_layers=n_gpu_layers,
            n_batch=EVAL_BATCH,
            n_ubatch=EVAL_BATCH,
            # a full-size sliding-window cache lets Gemma-style models reuse the
            # prompt prefix between turns instead of re-evaluating the history
            swa_full=True,
            verbose=False,
        )
        if seed is not None:
            kwargs["seed"] = seed
        from jinja2.exceptions import TemplateError

        try:
            self.llm = llama_cpp.Llama(**kwargs)
        except TemplateError as exc:  # llama-cpp-python compiles the GGUF's chat template
            from assistant.llm.prompting import template_sentence

            raise ModelError(template_sentence(str(path), exc)) from None
        except (ValueError, RuntimeError, OSError) as exc:
            if "llama_context" in str(exc):  # the weights loaded; the context did not
                raise ModelError(
                    f"{self.name} loaded, but a context of {n_ctx} tokens could not be made "
                    f"({exc}): most likely too little memory; try a smaller n_ctx."
                ) from None
            raise ModelError(
                f"{path} could not be loaded: the file is truncated, damaged, or a model "
                f"this llama.cpp does not support ({exc})."
            ) from None
        self.context_size = self.llm.n_ctx()
        self.sliding_window = int(llama_cpp.llama_model_n_swa(self.llm._model.model))
        self.load_settings: dict[str, object] = {
            "n_ctx": self.context_size,
            "n_batch": self.llm.n_batch,
            "n_ubatch": int(self.llm.context_params.n_ubatch),
            "swa_full": True,
            "flash_attn": bool(getattr(self.llm.context_params, "flash_attn", False)),
            "type_k": int(getattr(self.llm.context_params, "type_k", 1)),
            "type_v": int(getattr(self.llm.context_params, "type_v", 1)),
            "gpu_layers": n_gpu_layers,
            "llama_cpp": getattr(llama_cpp, "__version__", ""),
        }
        self._vocab = self.llm._model.vocab
        self._is_eog = llama_cpp.llama_vocab_is_eog
        template = self.llm.metadata.get("tokenizer.chat_template")
        self.formatter: TemplateFormatter | TranscriptFormatter
        if template:
            vocab = self.llm
            bos = vocab._model.token_get_text(vocab.token_bos()) if vocab.token_bos() >= 0 else ""
            eos = vocab._model.token_get_text(vocab.token_eos()) if vocab.token_eos() >= 0 else ""
            self.formatter = TemplateFormatter(
                template, bos_token=bos, eos_token=eos, source=str(path)
            )
        else:
            self.formatter = TranscriptFormatter()
        # A model with no chat template (a base model) writes best with the
        # sampling measured for it (bench/answers.py); others with the usual.
        self.base_model = isinstance(self.formatter, TranscriptFormatter)
        self.sampling_defaults: dict[str, Any] = (
            dict(TRANSCRIPT_SAMPLING) if self.base_model else {}
        )
        # a chat template means an instruction-tuned model; a base model
        # continuing a transcript cannot be asked for memories reliably
        self.can_propose_memories = isinstance(self.formatter, TemplateFormatter)
        # Tools only through a chat template that renders them; the calls are
        # read back in the format that template teaches (None: any format).
        self.supports_tools = (
            isinstance(self.formatter, TemplateFormatter) and self.formatter.renders_tools()
        )
        self.tool_format: ToolCallFormat | None = (
            detect_format(template) if self.supports_tools and template else None
        )
        self._lock = threading.Lock()
        self.state_cache: StateCache | None = state_cache(self) if state_cache else None
        self.last_restore: int = 0  # tokens read back from a saved state for the last reply
        # Leading cache positions computed in the batches a cold run would use.
        self._trusted = 0

    def close(self) -> None:
        """Free the weights and the context now (a model switched out)."""
        with self._lock:
            self.llm.close()

    # ------------------------------------------------------------------
    def render(
        self, turns: Sequence[ChatTurn], tools: Sequence[ToolSpec] | None = None
    ) -> RenderedPrompt:
        return self.formatter.render(turns, tools)

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

    def _reusable(self, tokens: Sequence[int]) -> int:
        """Leading tokens of ``tokens`` whose cached numbers a cold run would
        compute the same (see the module's docstring)."""
        return min(self.cached_prefix(tokens), self._trusted)

    def _evaluate(
        self, tokens: Sequence[int], end: int, cancel: threading.Event | None = None
    ) -> tuple[int, bool]:
        """Bring the cache to ``tokens[:end]``, evaluating from the last
        aligned batch start at or below what can be reused: (tokens reused,
        False when ``cancel`` stopped it between two batches)."""
        batch = EVAL_BATCH
        start = (min(self._reusable(tokens), end - 1) // batch) * batch
        self.llm.n_tokens = start  # eval() drops the cache from here on
        self._trusted = min(self._trusted, start)
        for i in range(start, end, batch):
            if cancel is not None and cancel.is_set():
                return start, False
            self.llm.eval(list(tokens[i : min(i + batch, end)]))
            if i + batch <= end:
                self._trusted = i + batch
        return start, True

    def _trim(self) -> None:
        """Drop what a cold run would compute differently: the positions after
        the trusted batches (the last partial batch, generated tokens)."""
        keep = min(self._trusted, int(self.llm.n_tokens))
        self.llm._ctx.kv_cache_seq_rm(-1, keep, -1)
        self.llm.n_tokens = keep
        self._trusted = keep

    # ------------------------------------------------------ saved states
    def _restore_state(self, tokens: Sequence[int]) -> int:
        """Read back the saved state sharing the most tokens with ``tokens``;
        the number of tokens restored (0: none usable, the cache is as before)."""
        import ctypes

        import llama_cpp

        cache = self.state_cache
        assert cache is not None
        # A model with sliding-window attention (Gemma) gets back, from a
        # saved state, only the last window of its positions in the window's
        # layers: such a state is exact only for a prompt that goes on from
        # all of it (measured: 0.8 to 2.0 off in the logits otherwise).
        found = cache.best(tokens, self._reusable(tokens), whole_past=self.sliding_window or None)
        if found is None:
            return 0
        saved, _shared = found
        n = len(saved.tokens)
        if n % EVAL_BATCH or n > self.context_size:
            return 0  # not made of whole batches: a cold run would not match it
        payload = cache.payload(saved)
        if payload is None:
            return 0
        self.llm._ctx.kv_cache_clear()
        self.llm.reset()
        self._trusted = 0
        buf = (ctypes.c_uint8 * len(payload)).from_buffer_copy(payload)
        if llama_cpp.llama_state_seq_set_data(self.llm._ctx.ctx, buf, len(payload), 0) == 0:
            cache.discard(saved)  # not a state this model can read: never again
            self.llm._ctx.kv_cache_clear()
            self.llm.reset()
            return 0
        self.llm.input_ids[:n] = saved.tokens
        self.llm.n_tokens = n
        self.llm._requires_eval = True
        self._trusted = n
        return n

    def _save_state(self) -> None:
        """Save the cache (trimmed to its trusted batches) with its tokens."""
        import ctypes

        import llama_cpp

        cache = self.state_cache
        self._trim()
        n = int(self.llm.n_tokens)
        if cache is None or n < MIN_SAVE_TOKENS:
            return
        ctx = self.llm._ctx.ctx
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        if size <= 0 or size > cache.cap_bytes:
            return
        buf = (ctypes.c_uint8 * size)()
        written = int(llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0))
        if written <= 0:
            return
        cache.save(self.llm.input_ids[:n].tolist(), bytes(memoryview(buf)[:written]))

    def next_prefix(self, turns: Sequence[ChatTurn]) -> list[int]:
        """The tokens every next prompt of this conversation starts with:
        ``turns`` rendered as the next turn will render them, up to where the
        next message goes."""
        from assistant.domain import Role

        a = self._tokens(self.render([*turns, ChatTurn(Role.USER, "0")]))
        b = self._tokens(self.render([*turns, ChatTurn(Role.USER, "1")]))
        n = 0
        for x, y in zip(a, b, strict=False):
            if x != y:
                break
            n += 1
        return a[:n]

    def prepare_next(
        self, turns: Sequence[ChatTurn], cancel: threading.Event | None = None
    ) -> None:
        """After a reply: evaluate the conversation as the next turn will
        render it (the reply as stored, not as generated token by token) and
        save that state, so the next turn, here or in a new process, only
        evaluates the new message. Without a state cache this is skipped."""
        if self.state_cache is None:
            return
        prefix = self.next_prefix(turns)
        end = (len(prefix) // EVAL_BATCH) * EVAL_BATCH
        if end < MIN_SAVE_TOKENS or len(prefix) > self.context_size:
            return
        with self._lock:
            if end > self._reusable(prefix):
                _reused, done = self._evaluate(prefix, end, cancel)
                if not done:
                    return
            self._trusted = min(self._trusted, end)
            self._save_state()

    def reset_cache(self) -> None:
        with self._lock:
            self._trusted = 0
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
        tools: Sequence[ToolSpec] | None = None,
    ) -> Iterator[TextPiece | ToolCalls | Finished]:
        tools = tools if tools and self.supports_tools else None
        rendered = self.render(turns, tools)
        tokens = self._tokens(rendered)
        room = self.context_size - len(tokens)
        if room < 1:
            raise ContextOverflow(
                f"The prompt takes {len(tokens)} tokens but the context window holds "
                f"{self.context_size}."
            )
        max_new = min(options.max_tokens, room)
        scanner = StopScanner(tuple(rendered.stop) + tuple(options.stop))
        # With tools, call markers may be control tokens ([TOOL_CALLS],
        # <|python_tag|>): they are decoded as text so the calls can be read.
        calls = ToolCallScanner(self.tool_format, {t.name for t in tools}) if tools else None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with self._lock:
            if options.seed is not None:
                self.llm.set_seed(options.seed)
            start = time.perf_counter()
            self.last_restore = 0
            if self.state_cache is not None and self._reusable(tokens) < len(tokens) - 64:
                self.last_restore = self._restore_state(tokens)
            cached, evaluated = self._evaluate(tokens, len(tokens), cancel)
            first: float | None = None
            produced = 0
            reason = "length" if evaluated else "cancelled"
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
                for token in gen if evaluated else ():
                    if first is None:
                        first = time.perf_counter()
                    if cancel is not None and cancel.is_set():
                        reason = "cancelled"
                        break
                    if self.is_end_token(token):
                        reason = "stop"
                        break
                    produced += 1
                    piece = decoder.decode(self.llm.detokenize([token], special=calls is not None))
                    out = scanner.feed(piece) if piece else ""
                    if out and calls is not None:
                        out = calls.feed(out)
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
            asked: list[ToolCall] = []
            if calls is not None:
                rest = calls.feed(rest) if rest else ""
                tail, asked = calls.finish()
                rest += tail
            if rest:
                yield TextPiece(rest)
            if asked and reason == "stop":
                yield ToolCalls(tuple(asked))
                reason = "tool_calls"
            end = time.perf_counter()
            self._trim()
        first = first or end
        yield Finished(
            finish_reason=reason,
            prompt_tokens=len(tokens),
            completion_tokens=produced,
            cached_tokens=cached,
            time_to_first_token_ms=(first - start) * 1000,
            generation_ms=(end - first) * 1000,
        )
