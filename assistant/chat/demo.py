"""The bundled model is a demo: the offer of a real one, for any shell.

``model_offer`` says, when the model in use is the bundled 270M base model,
which recommended chat model (``assistant.llm.recommend``) fits this machine
and what it costs to get; ``take_offer`` pulls it from the hub (progress,
cancel between chunks, a cut download resumes on the next try) and makes it
the model in use from now on (config.toml). Both read files or the network:
call them off a UI's event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DISMISSED_FILE = "model-offer-dismissed"  # in the data folder: "not now" was said


@dataclass(frozen=True)
class ModelOffer:
    ref: str  # what ``assistant models pull`` takes
    name: str
    download_bytes: int
    sentence: str  # what a shell shows

    @property
    def action(self) -> str:
        from assistant.llm.fit import gb

        return f"Download {self.name} ({gb(self.download_bytes)}) and use it"


def uses_bundled_model(runtime: Any) -> bool:
    """The settings name the bundled model, and the model loaded (if any) is it."""
    from assistant.llm.catalog import BUNDLED_MODEL_NAME

    spec = runtime.current_spec()
    if spec.base_url is not None or spec.engine is not None or spec.model_path is not None:
        return False
    loaded = runtime.model_handle.loaded
    return loaded is None or loaded.name == BUNDLED_MODEL_NAME


def model_offer(runtime: Any) -> ModelOffer | None:
    """The model to offer instead of the bundled demo, or None (another model
    is in use, or nothing on the list fits the memory free now)."""
    if not uses_bundled_model(runtime):
        return None
    from assistant.llm import fit
    from assistant.llm.recommend import for_this_machine

    pick = for_this_machine().pick
    if pick is None:
        return None
    return ModelOffer(
        pick.ref,
        pick.name,
        pick.file_bytes,
        "The bundled model is a tiny demo (Gemma 3 270M, a base model never taught to chat): "
        f"fine for trying the app, not for real answers. {pick.name} fits this machine "
        f"({fit.gb(pick.file_bytes)} download, {pick.licence}): {pick.why}.",
    )


def first_start_offer(runtime: Any) -> ModelOffer | None:
    """The offer to show as the app starts: until it is taken or dismissed."""
    if (runtime.paths.data / DISMISSED_FILE).exists():
        return None
    return model_offer(runtime)


def dismiss_offer(runtime: Any) -> None:
    """ "Not now": the start no longer offers it (the model picker still does)."""
    runtime.paths.data.mkdir(parents=True, exist_ok=True)
    (runtime.paths.data / DISMISSED_FILE).write_text("not now\n", encoding="utf-8")


@dataclass(frozen=True)
class PullProgress:
    done: int  # bytes here, a resumed download's earlier ones included
    total: int | None


def take_offer(
    runtime: Any,
    offer: ModelOffer,
    progress: Callable[[PullProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download the offered model and make it the model in use from now on.
    Raises ``Cancelled`` when stopped (what came stays for the next try to
    resume) and ``ModelError`` with one sentence when the hub fails."""
    from assistant.config import update_config
    from assistant.errors import Cancelled, ModelError
    from assistant.llm import hub

    ref = hub.parse_ref(offer.ref)
    if ref is None:  # the catalogue is ours: a bad entry is a bug, said plainly
        raise ModelError(f"'{offer.ref}' is not a hub model name.")

    def show(p: hub.Progress) -> None:
        if progress is not None:
            progress(PullProgress(p.done, p.total))

    try:
        result = hub.Hub(timeout=runtime.settings.hub_timeout).pull(
            ref, progress=show, cancel=cancel
        )
    except ModelError:
        if cancel is not None and cancel.is_set():
            raise Cancelled("download stopped") from None  # a stop, not a failure
        raise
    update_config(runtime.paths.config_file, {"model_path": str(result.path)}, remove=["engine"])
    dismiss_offer(runtime)
    return result.path
