"""The compose screen: pick a kind, fill its form, plan, edit the outline,
watch the sections stream in, Save As; drafts reopened from a list.

The one decision to know: the screen only shows. Every piece goes through
``ComposeService`` in thread workers that post messages back, so the draft is
on disk before a word of it is shown, and a crash or a kill loses nothing
that was on the screen. The outline is planned first and shown in an editor;
the sections are written from the outline as it stands when the user asks for
them (a piece short enough for one reply is written at once).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Label, OptionList, TextArea
from textual.widgets.option_list import Option

from assistant.domain import Draft, DraftStatus, OutlineSection, status_word
from assistant.textsafe import sanitize
from assistant.ui.screens import ConfirmScreen, SaveAsScreen

if TYPE_CHECKING:
    from assistant.chat.compose import ComposeJob, ComposeService
    from assistant.chat.writing import PromptLibrary, PromptTemplate

ServiceProvider = Callable[[], "ComposeService"]
# The order of the form; a user template's other variables follow.
FORM_ORDER = ("topic", "audience", "length", "style", "language", "keywords", "brief")
FORM_LABELS = {"style": "tone/style"}


def _sentence(exc: BaseException) -> str:
    from assistant.crashlog import describe_error

    return describe_error(exc)


# ------------------------------------------------------------------ messages
class LibraryReady(Message):
    def __init__(self, library: PromptLibrary) -> None:
        super().__init__()
        self.library = library


class Planned(Message):
    def __init__(self, draft: Draft, job: ComposeJob, single: bool, write: bool) -> None:
        super().__init__()
        self.draft = draft
        self.job = job
        self.single = single
        self.write = write


class Piece(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Progress(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Finished(Message):
    def __init__(self, draft: Draft | None, error: str | None = None) -> None:
        super().__init__()
        self.draft = draft
        self.error = error


class DraftsListed(Message):
    def __init__(self, drafts: list[Draft]) -> None:
        super().__init__()
        self.drafts = drafts


class Notice(Message):
    def __init__(self, text: str, error: bool = False) -> None:
        super().__init__()
        self.text = text
        self.error = error


# ------------------------------------------------------------------- modals
def draft_line(draft: Draft) -> str:
    status = status_word(draft.status)
    when = draft.updated_at.strftime("%Y-%m-%d %H:%M")
    return (
        f"#{draft.id}  {draft.title}  ·  {draft.words:,}/{draft.target_words:,} words  ·  "
        f"{status}  ·  {when}"
    )


class DraftsScreen(ModalScreen[int | None]):
    """The stored drafts, newest first: Enter opens one, Delete removes it."""

    DEFAULT_CSS = """
    DraftsScreen { align: center middle; }
    DraftsScreen > Vertical { width: 90%; height: 80%; border: round $accent;
        background: $surface; }
    DraftsScreen OptionList { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Close"),
        Binding("delete", "delete", "Delete"),
    ]

    class Delete(Message):
        def __init__(self, draft_id: int) -> None:
            super().__init__()
            self.draft_id = draft_id

    def __init__(self, drafts: list[Draft], on_delete: Callable[[int], None]) -> None:
        super().__init__()
        self.drafts = drafts
        self.on_delete = on_delete

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Drafts — Enter opens, Delete removes, Esc closes")
            yield OptionList(
                *[Option(Text(sanitize(draft_line(d))), id=str(d.id)) for d in self.drafts],
                id="drafts",
            )
            if not self.drafts:
                yield Label("No drafts yet: what you compose is kept here.")

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(int(event.option.id))

    def action_delete(self) -> None:
        options = self.query_one(OptionList)
        index = options.highlighted
        if index is None:
            return
        option = options.get_option_at_index(index)
        if option.id is not None:
            self.on_delete(int(option.id))
            options.remove_option_at_index(index)

    def action_cancel(self) -> None:
        self.dismiss(None)


# --------------------------------------------------------------------- screen
class ComposeScreen(Screen[None]):
    """Push it with a callable that returns the compose service (called in a
    worker thread: it may open the database and load the model)."""

    DEFAULT_CSS = """
    ComposeScreen #compose-status { height: 1; padding: 0 1; background: $boost; }
    ComposeScreen #compose-top { height: auto; max-height: 12; }
    ComposeScreen #kinds { width: 18; height: 100%; border: none; border-right: vkey $accent; }
    ComposeScreen #form { grid-size: 2; grid-columns: 12 1fr; grid-rows: 1; height: auto;
        padding: 0 1; }
    ComposeScreen #form Label { color: $text-muted; }
    ComposeScreen #form Input { height: 1; border: none; padding: 0 1; background: $boost; }
    ComposeScreen #form Input:focus { background: $accent 30%; }
    ComposeScreen .compose-caption { height: 1; padding: 0 1; color: $text-muted;
        background: $boost; }
    ComposeScreen #outline { height: 5; border: none; padding: 0 1; }
    ComposeScreen #piece { height: 1fr; border: none; padding: 0 1; }
    ComposeScreen #outline:focus, ComposeScreen #piece:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("ctrl+o", "plan", "Outline"),
        Binding("ctrl+g", "write", "Write"),
        Binding("escape", "stop", "Stop", show=False),
        Binding("ctrl+s", "save_as", "Save as"),
        Binding("ctrl+l", "drafts", "Drafts"),
        Binding("f5", "toggle_notes", "Notes"),
    ]

    def __init__(self, service: ServiceProvider, *, start_dir: Path | None = None) -> None:
        super().__init__()
        self.service = service
        self.start_dir = start_dir or Path.cwd()
        self.library: PromptLibrary | None = None
        self.kind: str | None = None
        self.use_notes = False
        self.busy = False
        self.cancel = threading.Event()
        self.job: ComposeJob | None = None
        self.draft_id: int | None = None
        self.planned_values: dict[str, str] | None = None
        self.text = ""
        """The piece as shown (and as stored in the draft)."""

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Label("", id="compose-status")
        with Horizontal(id="compose-top"):
            yield OptionList(id="kinds")
            yield Grid(id="form")
        yield Label("Outline — edit it, then Ctrl+G writes", classes="compose-caption")
        yield TextArea(id="outline", soft_wrap=True)
        yield Label("Piece", classes="compose-caption", id="piece-caption")
        yield TextArea(id="piece", soft_wrap=True, read_only=True)
        yield Footer()

    def on_mount(self) -> None:
        self.set_status("Loading the kinds of piece…")
        self.load_library()

    def on_unmount(self) -> None:
        # leaving the screen stops the piece; the draft keeps what was written
        self.cancel.set()

    def set_status(self, text: str) -> None:
        self.query_one("#compose-status", Label).update(Text(sanitize(text)))

    # ----------------------------------------------------------- library
    @work(thread=True, exit_on_error=False, group="compose-files")
    def load_library(self) -> None:
        try:
            self.post_message(LibraryReady(self.service().library()))
        except Exception as exc:
            self.post_message(Notice(_sentence(exc), error=True))

    @on(LibraryReady)
    async def _library_ready(self, message: LibraryReady) -> None:
        self.library = message.library
        kinds = self.query_one("#kinds", OptionList)
        kinds.clear_options()
        kinds.add_options([Option(name, id=name) for name in sorted(self.library.compose)])
        if self.library.compose:
            first = "article" if "article" in self.library.compose else min(self.library.compose)
            await self.choose_kind(first)
            kinds.highlighted = sorted(self.library.compose).index(first)
        # one line that fits 80 columns
        self.set_status("Pick a kind, fill the form. Ctrl+O outline · Ctrl+G write · Ctrl+L drafts")
        self.query_one("#form Input", Input).focus()

    @on(OptionList.OptionHighlighted, "#kinds")
    async def _kind_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.kind and not self.busy:
            await self.choose_kind(event.option.id)

    def template(self) -> PromptTemplate | None:
        if self.library is None or self.kind is None:
            return None
        return self.library.compose.get(self.kind)

    async def choose_kind(self, kind: str, values: dict[str, str] | None = None) -> None:
        """Show ``kind``'s form: its defaults, with what the user typed for
        the same variables kept (or ``values``, from a reopened draft)."""
        if self.library is None:
            return
        kept: dict[str, str] = {}
        previous = self.template()
        if values is None and previous is not None:  # what the user typed, not defaults
            defaults = {n: v.default or "" for n, v in previous.variables.items()}
            kept = {k: v for k, v in self.values().items() if v != defaults.get(k)}
        kept.update(values or {})
        self.kind = kind
        template = self.library.compose[kind]
        names = [n for n in FORM_ORDER if n in template.variables]
        names += [n for n in template.variables if n not in names]
        form = self.query_one("#form", Grid)
        await form.remove_children()
        widgets: list[Label | Input] = []
        for name in names:
            var = template.variables[name]
            widgets.append(Label(FORM_LABELS.get(name, name)))
            widgets.append(
                Input(
                    value=kept.get(name, var.default or ""),
                    placeholder=var.description,
                    id=f"var-{name}",
                    classes="compose-var",
                    type="integer" if name == "length" else "text",
                )
            )
        widgets.append(Label("notes (F5)", id="notes-label"))
        widgets.append(
            Input(
                placeholder="off — F5 writes from your notes (query: the topic)",
                id="notes-query",
                disabled=not self.use_notes,
            )
        )
        await form.mount_all(widgets)
        self._show_notes()
        self.planned_values = None

    def values(self) -> dict[str, str]:
        """The form as the user filled it (variable name -> text)."""
        return {
            str(i.id)[4:]: i.value
            for i in self.query("#form .compose-var").results(Input)
            if i.id is not None
        }

    def _show_notes(self) -> None:
        query = self.query("#notes-query").results(Input)
        for widget in query:
            widget.disabled = not self.use_notes
            widget.placeholder = (
                "what to look for in your notes (empty: the topic)"
                if self.use_notes
                else "off — F5 writes from your notes (query: the topic)"
            )

    def action_toggle_notes(self) -> None:
        self.use_notes = not self.use_notes
        self._show_notes()
        self.planned_values = None
        self.notify(
            "The piece will be written from your notes, with sources."
            if self.use_notes
            else "The piece will not use your notes.",
            markup=False,
        )

    def _notes_query(self) -> str | None:
        if not self.use_notes:
            return None
        query = self.query_one("#notes-query", Input).value.strip()
        return query or self.values().get("topic", "") or self.kind or ""

    @on(Input.Changed)
    def _form_changed(self, event: Input.Changed) -> None:
        if not self.busy and event.input.id != "save-path":
            self.planned_values = None  # the next Ctrl+G plans again

    # -------------------------------------------------------------- plan
    def action_plan(self) -> None:
        self._start_plan(write=False)

    def action_write(self) -> None:
        if self.busy:
            self.notify("The piece is still being written; Esc stops it.", markup=False)
            return
        current = {**self.values(), "__notes__": self._notes_query() or ""}
        if self.job is None or self.draft_id is None or self.planned_values != current:
            self._start_plan(write=True)
            return
        self._start_write()

    def _start_plan(self, write: bool) -> None:
        if self.busy:
            self.notify("The piece is still being written; Esc stops it.", markup=False)
            return
        if self.kind is None:
            self.notify("Pick a kind of piece first.", markup=False)
            return
        self.busy = True
        self.cancel = threading.Event()
        values = self.values()
        self.planned_values = {**values, "__notes__": self._notes_query() or ""}
        self.set_status(f"{self.kind}: planning…")
        self._plan_worker(self.kind, values, self._notes_query(), self.draft_id, write)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compose")
    def _plan_worker(
        self,
        kind: str,
        values: dict[str, str],
        notes_query: str | None,
        previous: int | None,
        write: bool,
    ) -> None:
        try:
            service = self.service()
            if previous is not None:
                service.discard_plan(previous)
            given = {k: v for k, v in values.items() if v.strip()}
            job = service.prepare(kind, given, notes_query=notes_query)
            for notice in job.notices:
                self.post_message(Notice(notice))
            draft, plan = service.plan(job, self.cancel)
            if plan.cancelled:
                self.post_message(Finished(None, "Planning stopped."))
                return
            self.post_message(Planned(draft, job, plan.planned_by == "single", write))
        except Exception as exc:
            self.post_message(Finished(None, _sentence(exc)))

    @on(Planned)
    def _planned(self, message: Planned) -> None:
        from assistant.chat.compose import format_outline

        self.busy = False
        self.job, self.draft_id = message.job, message.draft.id
        outline = self.query_one("#outline", TextArea)
        if message.single:
            outline.load_text("")
            if message.write:
                self._start_write()
            else:
                self.set_status(
                    f"{message.job.title}: short enough for one reply "
                    f"(about {message.job.words:,} words); Ctrl+G writes it."
                )
            return
        outline.load_text(format_outline(message.draft.outline))
        outline.move_cursor(outline.document.end)
        outline.focus()
        self.set_status(
            f"{message.job.title}: {len(message.draft.outline)} sections, about "
            f"{message.job.words:,} words in {message.job.language}. Edit the outline, "
            "then Ctrl+G writes."
        )

    # ------------------------------------------------------------- write
    def _start_write(self) -> None:
        from assistant.chat.compose import parse_outline
        from assistant.errors import WritingError

        job, draft_id = self.job, self.draft_id
        if job is None or draft_id is None:
            return
        text = self.query_one("#outline", TextArea).text
        try:
            outline = parse_outline(text, job.words) if text.strip() else None
        except WritingError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.busy = True
        self.cancel = threading.Event()
        self.text = ""
        self.query_one("#piece", TextArea).load_text("")
        self.query_one("#outline", TextArea).read_only = True
        self.set_status(f"{job.title}: writing…")
        self._write_worker(draft_id, job, outline, self.cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compose")
    def _write_worker(
        self,
        draft_id: int,
        job: ComposeJob,
        outline: tuple[OutlineSection, ...] | None,
        cancel: threading.Event,
    ) -> None:
        """Write the piece (``outline`` None: as planned) through the service."""
        from assistant.chat.compose import DraftDone, SectionDone, SectionStarted, TextPiece

        try:
            service = self.service()
            sections = list(outline) if outline is not None else service.draft(draft_id).outline
            for event in service.write(draft_id, job, sections, cancel):
                if isinstance(event, TextPiece):
                    self.post_message(Piece(event.text))
                elif isinstance(event, SectionStarted) and event.count > 1:
                    self.post_message(
                        Progress(
                            f"{job.title}: section {event.index} of {event.count} "
                            f"({event.title}) · {event.words_so_far:,} words so far · "
                            "Esc stops"
                        )
                    )
                elif isinstance(event, SectionDone):
                    self.post_message(
                        Progress(
                            f"{job.title}: {event.index} of {event.count} sections done · "
                            f"{event.words_so_far:,} words"
                        )
                    )
                elif isinstance(event, DraftDone):
                    self.post_message(Finished(event.draft))
        except Exception as exc:
            draft = None
            try:
                draft = self.service().draft(draft_id)
            except Exception:  # the draft cannot be read: the error says enough
                draft = None
            self.post_message(Finished(draft, _sentence(exc)))

    @on(Piece)
    def _piece(self, message: Piece) -> None:
        self.text += message.text
        piece = self.query_one("#piece", TextArea)
        piece.insert(sanitize(message.text), piece.document.end)
        piece.scroll_end(animate=False)

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        self.set_status(message.text)

    @on(Notice)
    def _notice(self, message: Notice) -> None:
        if message.error:
            self.set_status(message.text)
        self.notify(message.text, severity="error" if message.error else "information",
                    markup=False)  # fmt: skip

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self.busy = False
        self.query_one("#outline", TextArea).read_only = False
        draft = message.draft
        if message.error:
            self.set_status(message.error)
            self.notify(message.error, severity="error", markup=False)
        if draft is None:
            return
        if draft.status == DraftStatus.COMPLETE:
            share = draft.words / draft.target_words if draft.target_words else 0
            self.set_status(
                f"Draft {draft.id} done: {draft.words:,} words (asked "
                f"{draft.target_words:,}: {share:.0%}). Ctrl+S saves it as a file."
            )
        elif draft.status == DraftStatus.CANCELLED:
            self.set_status(
                f"Stopped: draft {draft.id} keeps {draft.words:,} words; Ctrl+S saves them."
            )

    def action_stop(self) -> None:
        if self.busy:
            self.cancel.set()
            self.set_status("Stopping…")
        elif len(self.app.screen_stack) > 1:
            self.app.pop_screen()  # pushed over another screen
        else:
            self.app.switch_mode(self.app.DEFAULT_MODE)  # a mode of its own: back to the first

    # ----------------------------------------------------------- save as
    def suggested_path(self) -> Path:
        topic = self.values().get("topic", "") or "piece"
        slug = re.sub(r"[^\w]+", "-", topic.lower()).strip("-")[:40] or "piece"
        return self.start_dir / f"{self.kind or 'piece'}-{slug}.md"

    def action_save_as(self) -> None:
        if self.busy:
            self.notify("Wait for the piece, or stop it with Esc, then save.", markup=False)
            return
        if not self.text.strip():
            self.notify("There is nothing to save yet: Ctrl+G writes the piece.", markup=False)
            return
        text = self.text

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._save(path, text, force=False)

        self.app.push_screen(SaveAsScreen(self.suggested_path(), "Save the piece as"), chosen)

    @work(thread=True, exit_on_error=False, group="compose-files")
    def _save(self, path: Path, text: str, force: bool) -> None:
        from assistant.chat.writing import save_new_file
        from assistant.errors import WritingError

        try:
            save_new_file(path, text.rstrip() + "\n", force=force)
        except WritingError as exc:
            if path.exists() and not force and not path.is_dir():
                self.app.call_from_thread(self._ask_replace, path, text)
                return
            self.post_message(Notice(str(exc), error=True))
            return
        except Exception as exc:
            self.post_message(Notice(f"Could not save {path}: {_sentence(exc)}", error=True))
            return
        self.post_message(Notice(f"Saved {path}."))

    def _ask_replace(self, path: Path, text: str) -> None:
        def answered(replace: bool | None) -> None:
            if replace:
                self._save(path, text, force=True)

        self.app.push_screen(
            ConfirmScreen("Replace the file?", f"{path} exists.", yes="Replace"), answered
        )

    # ------------------------------------------------------------- drafts
    def action_drafts(self) -> None:
        if self.busy:
            self.notify("The piece is still being written; Esc stops it.", markup=False)
            return
        self._list_drafts()

    @work(thread=True, exit_on_error=False, group="compose-files")
    def _list_drafts(self) -> None:
        try:
            self.post_message(DraftsListed(self.service().list_drafts()))
        except Exception as exc:
            self.post_message(Notice(_sentence(exc), error=True))

    @on(DraftsListed)
    def _drafts_listed(self, message: DraftsListed) -> None:
        drafts = {d.id: d for d in message.drafts}

        async def chosen(draft_id: int | None) -> None:
            if draft_id is not None and draft_id in drafts:
                await self.open_draft(drafts[draft_id])

        def delete(draft_id: int) -> None:
            self._delete_draft(draft_id)

        self.app.push_screen(DraftsScreen(message.drafts, delete), chosen)

    @work(thread=True, exit_on_error=False, group="compose-files")
    def _delete_draft(self, draft_id: int) -> None:
        try:
            self.service().delete_draft(draft_id)
        except Exception as exc:
            self.post_message(Notice(_sentence(exc), error=True))
            return
        if draft_id == self.draft_id:
            self.draft_id, self.job = None, None
        self.post_message(Notice(f"Deleted draft {draft_id}."))

    async def open_draft(self, draft: Draft) -> None:
        """Show a stored draft: its kind, form, outline and text."""
        from assistant.chat.compose import format_outline

        if self.library is not None and draft.kind in self.library.compose:
            kinds = self.query_one("#kinds", OptionList)
            self.kind = draft.kind  # no reset of the form by the highlight below
            await self.choose_kind(draft.kind, dict(draft.variables))
            kinds.highlighted = sorted(self.library.compose).index(draft.kind)
        outline = draft.outline if len(draft.outline) > 1 else []
        self.query_one("#outline", TextArea).load_text(format_outline(outline))
        self.text = draft.content
        self.query_one("#piece", TextArea).load_text(sanitize(draft.content))
        self.job, self.draft_id, self.planned_values = None, None, None
        status = status_word(draft.status)
        self.set_status(
            f"Draft {draft.id} ({status}): {draft.words:,} of {draft.target_words:,} words. "
            "Ctrl+S saves it; Ctrl+G writes a new one from the form."
        )
