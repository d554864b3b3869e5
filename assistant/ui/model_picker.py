"""The model picker (Ctrl+L, or "Switch model" in the command palette).

It lists the models on this machine (bundled, downloaded, from the hub) with
their size, quant and whether they fit in free memory, and the models each
named engine serves (asked from its ``/v1/models``). Choosing one loads it in
a thread worker that reports progress to the status line; the conversation
carries on with the new model, and each reply records the model that wrote it.

Everything the picker reads (files, GGUF headers, engines over the network)
is read in a worker: the screen opens at once with "Reading the models…".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message as TextualMessage
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from assistant.ui.widgets import plain

if TYPE_CHECKING:
    from textual.app import App

    from assistant.llm.spec import ModelSpec
    from assistant.runtime import Runtime


@dataclass(frozen=True)
class PickerEntry:
    label: str  # "bundled", "owner/repo:Q4_K_M", "engine/model"
    detail: str  # size, quant, fit; or the engine's address
    spec: ModelSpec | None  # None: a line that cannot be chosen (an engine that failed)
    current: bool = False

    @property
    def line(self) -> str:
        mark = "●" if self.current else " "
        return f"{mark} {self.label}  {self.detail}"


def gather_entries(runtime: Runtime) -> list[PickerEntry]:
    """Local models with size, quant and fit, then each engine's models.
    Reads files and the network: call it in a worker."""
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


class ModelPickerScreen(ModalScreen["PickerEntry | None"]):
    """Choose the model to chat with; returns the entry, or None (Esc)."""

    BINDINGS = [("escape", "close", "Close")]

    def __init__(self, gather: Callable[[], list[PickerEntry]]) -> None:
        super().__init__()
        self.gather = gather
        self.entries: list[PickerEntry] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="models"):
            yield Label("Switch model", classes="dialog-title")
            yield Static("Reading the models…", id="models-about", markup=False)
            yield OptionList(id="models-list")
            yield Label("Enter loads the model; Esc closes.", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.read_entries()

    @work(thread=True, exclusive=True, exit_on_error=False, group="model-picker")
    def read_entries(self) -> list[PickerEntry] | str:
        from assistant.crashlog import describe_error

        try:
            return self.gather()
        except Exception as exc:
            return f"The models could not be listed: {describe_error(exc)}"

    @on(Worker.StateChanged)
    def entries_read(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "model-picker":
            return
        event.stop()
        if event.state != WorkerState.SUCCESS:
            return
        result = event.worker.result
        about = self.query_one("#models-about", Static)
        if isinstance(result, str):
            about.update(plain(result))
            return
        self.entries = list(result or [])
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(Option(plain(e.line), disabled=e.spec is None) for e in self.entries)
        current = next((i for i, e in enumerate(self.entries) if e.current), 0)
        if self.entries:
            options.highlighted = current
        about.update(
            plain(
                f"{len(self.entries)} model{'s' if len(self.entries) != 1 else ''} · "
                "size, quant, parameters, context, fit"
            )
            if self.entries
            else plain("No models yet: `assistant models pull OWNER/REPO` downloads one.")
        )

    @on(OptionList.OptionSelected, "#models-list")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        entry = self.entries[event.option_index]
        if entry.spec is not None:
            self.dismiss(entry)

    def action_close(self) -> None:
        self.dismiss(None)


# ------------------------------------------------------------- switching
class ModelLoading(TextualMessage):
    """A model is loading: ``text`` for the status line."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ModelSwitched(TextualMessage):
    """The switch ended: the model in use now, what to tell the user, and a
    warning (it will not fit) or the error sentence."""

    def __init__(
        self,
        name: str,
        notice: str | None = None,
        warning: str | None = None,
        error: str | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.notice = notice
        self.warning = warning
        self.error = error


def start_switch(app: App[Any], runtime: Runtime, entry: PickerEntry) -> Worker[None]:
    """Load ``entry``'s model in a thread worker, posting ``ModelLoading``
    while it loads (at most every 0.1 s) and ``ModelSwitched`` at the end."""
    assert entry.spec is not None
    spec = entry.spec
    last = [0.0]

    def progress(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.1:
            last[0] = now
            app.post_message(ModelLoading(f"{entry.label} · loading {fraction:.0%}"))

    def run() -> None:
        from assistant.crashlog import describe_error

        app.post_message(ModelLoading(f"{entry.label} · loading…"))
        started = time.perf_counter()
        try:
            model = runtime.switch_model(spec, progress)
        except Exception as exc:
            app.post_message(
                ModelSwitched(runtime.model_label(), error=f"{entry.label}: {describe_error(exc)}")
            )
            return
        took = time.perf_counter() - started
        app.post_message(
            ModelSwitched(
                model.name,
                notice=f"{model.name} loaded in {took:.1f} s; the conversation carries on with it.",
                warning=getattr(model, "fit_notice", None),
            )
        )

    return app.run_worker(run, thread=True, group="model-switch", exit_on_error=False)
