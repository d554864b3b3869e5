"""The models a user can switch to while chatting, for any shell.

The local models (bundled, downloaded, from the hub) with their size, quant
and whether they fit in free memory, then the models each named engine
serves (asked from its ``/v1/models``). Everything here reads files or the
network: call it off a UI's event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.chat.demo import ModelOffer
    from assistant.llm.spec import ModelSpec


@dataclass(frozen=True)
class PickerEntry:
    label: str  # "bundled", "owner/repo:Q4_K_M", "engine/model"
    detail: str  # size, quant, fit; or the engine's address
    spec: ModelSpec | None  # None: a line that cannot be chosen (an engine that failed)
    current: bool = False
    offer: ModelOffer | None = None  # a model to download in place of the bundled demo

    @property
    def choosable(self) -> bool:
        return self.spec is not None or self.offer is not None

    @property
    def line(self) -> str:
        mark = "●" if self.current else " "
        return f"{mark} {self.label}  {self.detail}"


def gather_entries(runtime: Any) -> list[PickerEntry]:
    """Local models with size, quant and fit, then each engine's models.
    ``runtime`` is the composition root (``Runtime``)."""
    from dataclasses import replace
    from pathlib import Path

    from assistant.errors import AssistantError
    from assistant.llm import fit
    from assistant.llm.catalog import local_models
    from assistant.llm.gguf_meta import cached_describe
    from assistant.llm.remote import list_models

    current = runtime.current_spec()
    loaded = runtime.model_handle.loaded
    free = fit.free_memory()
    kv_in_use = getattr(getattr(loaded, "fit", None), "estimate", None)
    if kv_in_use is not None:  # the model in use gives its cache back when switched out
        free = free.plus(kv_in_use.kv_cache + kv_in_use.compute)
    entries: list[PickerEntry] = []
    from assistant.chat.demo import model_offer

    offer = model_offer(runtime)
    if offer is not None:  # the bundled demo is in use: a real model first
        entries.append(
            PickerEntry(
                f"⤓ Download {offer.name}",
                f"{fit.gb(offer.download_bytes)}  recommended: the bundled model is a tiny demo",
                None,
                offer=offer,
            )
        )
    for m in local_models(runtime.paths):
        size = fit.gb(m.size)
        try:
            info = cached_describe(m.path, runtime.paths.cache / "model-info.json")
        except AssistantError as exc:
            entries.append(PickerEntry(m.name, f"{size}  damaged: {exc}", None))
            continue
        n_ctx = runtime.settings.n_ctx or fit.default_context(info, free)
        verdict = fit.check_fit(info, n_ctx, free)
        spec = runtime.model_spec(model=str(m.path)) if m.source != "bundled" else None
        if spec is None:
            spec = replace(runtime.model_spec(), model_path=None, base_url=None, engine=None)
        is_current = current.base_url is None and (
            (current.model_path is None and m.source == "bundled")
            or m.same_file(Path(current.model_path) if current.model_path else None)
        )
        detail = f"{size}  {info.quant}  {info.parameters_label}  ctx {n_ctx}  {verdict.label}"
        entries.append(PickerEntry(m.name, detail, spec, is_current))
    for name, engine in sorted(runtime.settings.engines.items()):
        problem = engine.problem(name)
        if problem:
            entries.append(PickerEntry(f"{name}/…", problem, None))
            continue
        try:
            served = list_models(engine.base_url, engine.api_key(), timeout=5)
        except AssistantError as exc:
            entries.append(PickerEntry(f"{name}/…", str(exc), None))
            continue
        for model in served:
            spec = runtime.model_spec(engine=name, model=model.id)
            is_current = current.engine == name and (current.remote_model or "") in ("", model.id)
            ctx = f"ctx {model.context_length}  " if model.context_length else ""
            entries.append(
                PickerEntry(
                    f"{name}/{model.id}", f"{ctx}remote: {engine.base_url}", spec, is_current
                )
            )
    return entries
