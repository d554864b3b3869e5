"""What a GGUF file holds, read with the ``gguf`` package, and whether it is whole.

``GGUFInfo`` is what the app shows and plans with: architecture, parameters,
quant type, trained context, layers, whether a chat template is present, and
the sizes the memory estimate needs (tensor bytes, KV-cache bytes per token).

Decision: ``gguf.GGUFReader`` turns every element of every metadata array into
its own numpy view, so a modern vocabulary (262,144 tokens in three arrays)
takes it 5-13 s. ``_HeaderReader`` keeps the package's own parsing of the
header, the tensor table, the alignment and the data offsets, and only reads a
numeric array in one piece and steps over a string array: 30 ms for the
bundled model. Before the reader maps any tensor, the end of the last tensor's
data is compared with the file's size, so a file cut short is refused with a
sentence before llama.cpp ever opens it (a 4-byte file holding ``GGUF`` fails
in the header).
"""

from __future__ import annotations

import json
import re
import struct
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ModelError

# Bump when GGUFInfo changes: cached entries of another version are read again.
INFO_VERSION = 2
SPLIT_NAME = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


class GGUFDamaged(ModelError):
    """The file is not a complete GGUF model; the message says how."""


@dataclass(frozen=True)
class GGUFInfo:
    path: str  # the file given (the first part of a split model)
    file_bytes: int  # all parts together
    parts: int
    architecture: str
    name: str
    parameters: int
    quant: str  # "Q4_K_M", "F16"...: the file type, else the commonest tensor type
    trained_context: int
    layers: int
    embedding_length: int
    feed_forward_length: int
    vocab_size: int
    chat_template: bool
    tensor_bytes: int  # the weights as loaded
    kv_bytes_per_token: int  # f16 K and V over every layer with attention
    sliding_window: int = 0
    pooling: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parameters_label(self) -> str:
        n = self.parameters
        if n >= 1e9:
            return f"{n / 1e9:.1f}B"
        return f"{n / 1e6:.0f}M"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_parts(path: Path) -> list[Path]:
    """All the files of a split model (``-00001-of-00003.gguf``), in order;
    ``[path]`` for a single file. Missing parts are named in an error."""
    match = SPLIT_NAME.match(path.name)
    if not match:
        return [path]
    count = int(match["count"])
    width = len(match["no"])
    parts = [
        path.with_name(f"{match['prefix']}-{n:0{width}d}-of-{match['count']}.gguf")
        for n in range(1, count + 1)
    ]
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise GGUFDamaged(
            f"{path.name} is part of a model split in {count} files and "
            f"{', '.join(missing[:3])}{'...' if len(missing) > 3 else ''} is missing beside it."
        )
    return parts


def _reader_class() -> type:
    """The package's reader, taught to read big arrays in one go (see above)."""
    import numpy as np
    from gguf import GGUFReader, GGUFValueType

    class _HeaderReader(GGUFReader):
        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> Any:
            end = offset + int(np.dtype(dtype).itemsize) * int(count)
            if end > len(self.data):  # a read past the end: the file was cut here
                raise _Short(end)
            return super()._get(offset, dtype, count, override_order)

        def _get_field_parts(
            self, orig_offs: int, raw_type: int
        ) -> tuple[int, list[Any], list[int], list[Any]]:
            gtype = GGUFValueType(raw_type)
            if gtype != GGUFValueType.ARRAY:
                return super()._get_field_parts(orig_offs, raw_type)
            offs = orig_offs
            raw_itype = self._get(offs, np.uint32)
            alen = self._get(offs + 4, np.uint64)
            if len(raw_itype) < 1 or len(alen) < 1:
                raise _Short(offs + 12)
            offs += 12
            itype = GGUFValueType(int(raw_itype[0]))
            count = int(alen[0])
            nptype = self.gguf_scalar_to_np.get(itype)
            if nptype is not None:
                data = self._get(offs, nptype, count)
                if len(data) < count:
                    raise _Short(offs + count * np.dtype(nptype).itemsize)
                return (
                    offs + int(data.nbytes) - orig_offs,
                    [raw_itype, alen, data],
                    [2],
                    [
                        gtype,
                        itype,
                    ],
                )
            if itype == GGUFValueType.STRING:
                unpack = struct.Struct("<Q" if self.byte_order == "I" else ">Q").unpack_from
                buf = memoryview(self.data)  # type: ignore[arg-type]
                end = len(buf)
                for _ in range(count):
                    if offs + 8 > end:
                        raise _Short(offs + 8)
                    offs += 8 + unpack(buf, offs)[0]
                if offs > end:
                    raise _Short(offs)
                # the strings themselves are not kept: only how many there are
                return offs - orig_offs, [raw_itype, alen], [], [gtype, itype]
            return super()._get_field_parts(orig_offs, raw_type)

        def _build_tensors(self, start_offs: int, fields: list[Any]) -> None:
            from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

            if not fields:
                raise GGUFDamaged(
                    f"{Path(str(self.data.filename)).name} holds no tensors: it is not a model."
                )
            end = start_offs
            for f in fields:
                _, _, _, dims, raw_dtype, offset = f.parts
                block, size = GGML_QUANT_SIZES[GGMLQuantizationType(int(raw_dtype[0]))]
                n = int(np.prod(dims.astype(np.int64))) if len(dims) else 1
                end = max(end, start_offs + int(offset[0]) + n * size // block)
            if end > len(self.data):
                raise _Short(end, in_data=True)
            super()._build_tensors(start_offs, fields)

    return _HeaderReader


class _Short(Exception):
    """The file ends before byte ``needed`` (in the header, or in the tensor data)."""

    def __init__(self, needed: int, in_data: bool = False) -> None:
        super().__init__(needed)
        self.needed = needed
        self.in_data = in_data


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def read_header(path: Path) -> Any:
    """The parsed header and tensor table of one GGUF file; ``GGUFDamaged``
    with one sentence when it is not a complete GGUF file."""
    size = path.stat().st_size
    if size < 24:
        raise GGUFDamaged(f"{path.name} is not a complete GGUF file: it holds only {size} bytes.")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelError(f"Cannot read the model file {path}: {exc.strerror}.") from None
    if magic != b"GGUF":
        raise GGUFDamaged(f"{path.name} is not a GGUF model file.")
    try:
        return _reader_class()(path)
    except _Short as short:
        if short.in_data:
            raise GGUFDamaged(
                f"{path.name} is cut short: it holds {_mb(size)} but its tensors need "
                f"{_mb(short.needed)}; download it again."
            ) from None
        raise GGUFDamaged(
            f"{path.name} is cut short: it ends at {_mb(size)}, inside its header; "
            "download it again."
        ) from None
    except GGUFDamaged:
        raise
    except (ValueError, IndexError, KeyError, OverflowError, TypeError, struct.error):
        raise GGUFDamaged(
            f"{path.name} is damaged or cut short: its GGUF header cannot be read; "
            "download it again."
        ) from None


def verify_gguf(path: Path) -> None:
    """Parse the header and tensor table of ``path`` (every part of a split
    model) and check the data reaches the last tensor's end."""
    for part in split_parts(path):
        read_header(part)


def _value(reader: Any, key: str, default: Any = None) -> Any:
    f = reader.fields.get(key)
    if f is None or not f.data:
        return default
    try:
        value = f.contents()
    except (ValueError, IndexError, UnicodeDecodeError):
        return default
    return value


def _quant_label(reader: Any, tensors: list[Any]) -> str:
    from gguf import LlamaFileType

    file_type = _value(reader, "general.file_type")
    if isinstance(file_type, int):
        try:
            name = LlamaFileType(file_type).name
        except ValueError:
            name = ""
        if name and name != "GUESSED":
            return name.removeprefix("MOSTLY_").replace("ALL_F32", "F32")
    counts = Counter(
        t.tensor_type.name for t in tensors if t.tensor_type.name not in ("F32", "I32")
    )
    return counts.most_common(1)[0][0] if counts else "F32"


def describe(path: Path) -> GGUFInfo:
    """Read ``path`` (all parts of a split model) into a ``GGUFInfo``."""
    path = Path(path)
    parts = split_parts(path)
    readers = [read_header(p) for p in parts]
    head = readers[0]
    tensors = [t for r in readers for t in r.tensors]
    arch = str(_value(head, "general.architecture", "unknown"))

    def arch_int(key: str, default: int = 0) -> int:
        value = _value(head, f"{arch}.{key}", default)
        if isinstance(value, list):
            return int(max(value)) if value else default
        return int(value) if isinstance(value, int | float) else default

    layers = arch_int("block_count")
    heads = arch_int("attention.head_count")
    embd = arch_int("embedding_length")
    head_dim = embd // heads if heads else 0
    key_len = arch_int("attention.key_length", head_dim)
    value_len = arch_int("attention.value_length", head_dim)
    kv_heads = _value(head, f"{arch}.attention.head_count_kv", heads)
    per_layer = kv_heads if isinstance(kv_heads, list) else [kv_heads] * layers
    kv_per_token = sum(int(h) * (key_len + value_len) * 2 for h in per_layer[:layers])
    if any(k.startswith(f"{arch}.ssm.") for k in head.fields) and not kv_heads:
        kv_per_token = 0  # a recurrent model keeps a fixed-size state instead
    vocab = head.fields.get("tokenizer.ggml.tokens")
    vocab_size = int(vocab.parts[4][0]) if vocab is not None else arch_int("vocab_size")
    pooling = _value(head, f"{arch}.pooling_type")
    return GGUFInfo(
        path=str(path),
        file_bytes=sum(p.stat().st_size for p in parts),
        parts=len(parts),
        architecture=arch,
        name=str(_value(head, "general.name", "") or path.stem),
        parameters=sum(int(t.n_elements) for t in tensors),
        quant=_quant_label(head, tensors),
        trained_context=arch_int("context_length", 2048),
        layers=layers,
        embedding_length=embd,
        feed_forward_length=arch_int("feed_forward_length"),
        vocab_size=vocab_size,
        chat_template=bool(_value(head, "tokenizer.chat_template")),
        tensor_bytes=sum(int(t.n_bytes) for t in tensors),
        kv_bytes_per_token=kv_per_token,
        sliding_window=arch_int("attention.sliding_window"),
        pooling={0: "none", 1: "mean", 2: "cls", 3: "last", 4: "rank"}.get(pooling)
        if isinstance(pooling, int)
        else None,
    )


# -------------------------------------------------------------- the cache
def _stamp(path: Path) -> list[Any]:
    parts = split_parts(path)
    return [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in parts]


def cached_describe(path: Path, cache_file: Path | None) -> GGUFInfo:
    """``describe`` remembered per file (resolved path, size, mtime) in
    ``cache_file``, so a second start neither imports ``gguf`` nor reads the
    header; a changed file is read (and verified) again."""
    path = Path(path)
    if cache_file is None:
        return describe(path)
    stamp = _stamp(path)
    key = stamp[0][0]
    entries: dict[str, Any] = {}
    try:
        loaded = json.loads(cache_file.read_text(encoding="utf-8"))
        if isinstance(loaded, dict) and loaded.get("version") == INFO_VERSION:
            entries = loaded.get("files") or {}
    except (OSError, ValueError):
        pass
    entry = entries.get(key)
    if isinstance(entry, dict) and entry.get("stamp") == stamp:
        try:
            data = dict(entry["info"])
            data["path"] = str(path)
            return GGUFInfo(**data)
        except (TypeError, KeyError):
            pass
    info = describe(path)
    entries = {k: v for k, v in entries.items() if k == key or Path(k).exists()}
    entries[key] = {"stamp": stamp, "info": info.to_dict()}
    try:
        from assistant.fileio import atomic_write_text
        from assistant.paths import private_dir

        private_dir(cache_file.parent)
        atomic_write_text(
            cache_file, json.dumps({"version": INFO_VERSION, "files": entries}), mode=0o600
        )
    except OSError:
        pass  # a cache that cannot be written only costs time
    return info


def file_identity(path: Path) -> str:
    """A cheap identity of the model file for keys: resolved path, size, mtime."""
    st = Path(path).stat()
    return f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}"


__all__ = [
    "GGUFDamaged",
    "GGUFInfo",
    "cached_describe",
    "describe",
    "file_identity",
    "split_parts",
    "verify_gguf",
]
