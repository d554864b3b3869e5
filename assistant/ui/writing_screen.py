"""The writing screen: text in, an action from the command palette, the result
streaming in, then each change accepted or rejected on its own.

The one decision to know: an action runs through the chat service like a
slash command does, in a conversation of the screen's own ("Writing: FILE"),
so the result is on disk before it is shown, a kill loses nothing, and the
user's options (temperature, top_p, seed, max_tokens) apply. The work runs in
thread workers that only post messages back; the original text is kept
untouched until the user saves, and saving writes a backup first and then
replaces the file atomically. Text typed or pasted without a file is saved
with Save As (Ctrl+S asks for a path); opening another file over unsaved
text asks first. The screen is a mode of the app (F4 goes back and forth), so
leaving it loses nothing while the app runs. A change that leaves out a
sentence of the original starts rejected: the user accepts it knowingly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    DirectoryTree,
    Footer,
    Input,
    Label,
    ListItem,
    ListView,
    Log,
    TextArea,
)
from textual.worker import Worker, WorkerState

from assistant.chat.service import ChatService
from assistant.chat.writing import (
    IN_PLACE,
    Change,
    PromptLibrary,
    PromptTemplate,
    TextDiff,
    check_output,
    diff_texts,
    drops_sentence,
    keep_trailing_newline,
    missing_argument,
    plan_action,
)
from assistant.domain import plural
from assistant.errors import WritingError
from assistant.textsafe import sanitize
from assistant.ui.screens import AskScreen, ConfirmScreen, SaveAsScreen

ChatProvider = Callable[[], ChatService]


# ------------------------------------------------------------------ messages
class ResultPiece(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ActionStatus(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class FileLoaded(Message):
    def __init__(self, path: Path, text: str, data: bytes) -> None:
        super().__init__()
        self.path = path
        self.text = text
        self.data = data


class LibraryLoaded(Message):
    def __init__(self, library: PromptLibrary) -> None:
        super().__init__()
        self.library = library


class Failed(Message):
    """A worker failed; ``text`` is the sentence to show."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Saved(Message):
    def __init__(self, path: Path, text: str, backup: Path | None) -> None:
        super().__init__()
        self.path = path
        self.text = text
        self.backup = backup


class SaveNeedsConfirm(Message):
    """Save As names a file that exists: ask before replacing it."""

    def __init__(self, path: Path, text: str) -> None:
        super().__init__()
        self.path = path
        self.text = text


class ActionFinished(Message):
    def __init__(self, action: str, original: str, result: str, reason: str, edits: bool) -> None:
        super().__init__()
        self.action = action
        self.original = original
        self.result = result
        self.reason = reason
        self.edits = edits


# ---------------------------------------------------------- command palette
class WritingActionsProvider(Provider):
    """Every template in the prompt library, as a command on the writing screen."""

    def _actions(self) -> list[tuple[str, str, Callable[[], None]]]:
        screen = self.screen
        if not isinstance(screen, WritingScreen) or screen.library is None:
            return []
        return [
            (f"Writing: {t.name}", t.description, partial(screen.start_action, t.name))
            for t in sorted(screen.library.templates.values(), key=lambda t: t.name)
        ]

    async def discover(self) -> Hits:
        for label, help_text, callback in self._actions():
            yield DiscoveryHit(label, callback, help=help_text)
        screen = self.screen
        if isinstance(screen, WritingScreen):
            yield DiscoveryHit("Save as…", screen.action_save_as, help="Save to a file you name")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, callback in self._actions():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), callback, help=help_text)


# ---------------------------------------------------------------- file picker
class FilePickerScreen(ModalScreen[Path | None]):
    """Choose a file: type or paste its path (Enter opens it; a folder's
    path shows that folder below), or pick it in the tree. Esc cancels."""

    DEFAULT_CSS = """
    FilePickerScreen { align: center middle; }
    FilePickerScreen > Vertical { width: 80%; height: 80%; border: round $accent;
        background: $surface; padding: 0 1; }
    FilePickerScreen #picker-path { margin-bottom: 1; }
    FilePickerScreen #picker-problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    class Checked(Message):
        def __init__(self, path: Path, kind: str) -> None:
            super().__init__()
            self.path = path
            self.kind = kind  # "file", "folder" or "missing"

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Open a file: type its path and press Enter, or pick it below")
            yield Input(value=f"{self.folder}/", id="picker-path")
            yield Label("", id="picker-problem")
            yield DirectoryTree(self.folder)

    def on_mount(self) -> None:
        field = self.query_one("#picker-path", Input)
        field.focus()
        field.cursor_position = len(field.value)

    @on(Input.Submitted, "#picker-path")
    def _typed(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if value:
            self._check(Path(value).expanduser())

    @work(thread=True, exit_on_error=False, group="picker")
    def _check(self, path: Path) -> None:
        kind = "file" if path.is_file() else "folder" if path.is_dir() else "missing"
        self.post_message(self.Checked(path, kind))

    @on(Checked)
    def _checked(self, message: Checked) -> None:
        problem = self.query_one("#picker-problem", Label)
        if message.kind == "file":
            self.dismiss(message.path)
        elif message.kind == "folder":
            problem.update("")
            self.query_one(DirectoryTree).path = message.path
        else:
            problem.update(Text(sanitize(f"There is no file or folder {message.path}.")))

    @on(DirectoryTree.FileSelected)
    def _chosen(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(Path(event.path))

    @on(DirectoryTree.DirectorySelected)
    def _folder(self, event: DirectoryTree.DirectorySelected) -> None:
        self.query_one("#picker-path", Input).value = f"{event.path}/"

    def action_cancel(self) -> None:
        self.dismiss(None)


# ------------------------------------------------------------------ diff view
class ChangeItem(ListItem):
    """One change: the original lines, the new lines, and the user's decision.
    A change that leaves out a sentence starts rejected; long lines wrap."""

    DEFAULT_CSS = """
    ChangeItem > Label { width: 1fr; }
    """

    def __init__(self, change: Change) -> None:
        super().__init__()
        self.change = change
        self.drops = drops_sentence(change)
        self.accepted = not self.drops
        self.body = Label(self._render_change())

    def compose(self) -> ComposeResult:
        yield self.body

    def _render_change(self) -> Text:
        mark = "[accepted]" if self.accepted else "[rejected]"
        if self.drops:
            mark += " (leaves out a sentence: check before accepting)"
        text = Text(f"Change {self.change.index + 1} {mark}\n", style="bold", overflow="fold")
        # The sign is glued to the line (as in a unified diff): with a space
        # after it, a long line of Chinese (one "word" to the wrapper) would
        # start on the next row, leaving the sign alone on its own.
        for line in self.change.old_lines:
            text.append("-" + sanitize(line.rstrip("\n")) + "\n", style="red")
        for line in self.change.new_lines:
            text.append("+" + sanitize(line.rstrip("\n")) + "\n", style="green")
        return text

    def decide(self, accepted: bool) -> None:
        self.accepted = accepted
        self.body.update(self._render_change())


class ChangeList(ListView):
    """The list of changes; its keys decide the highlighted change."""

    BINDINGS = [
        Binding("a", "decide(True)", "Accept"),
        Binding("r", "decide(False)", "Reject"),
        Binding("space", "flip", "Toggle"),
    ]

    def action_decide(self, accepted: bool) -> None:
        item = self.highlighted_child
        if isinstance(item, ChangeItem):
            item.decide(accepted)
            self.action_cursor_down()

    def action_flip(self) -> None:
        item = self.highlighted_child
        if isinstance(item, ChangeItem):
            item.decide(not item.accepted)


# --------------------------------------------------------------------- screen
class WritingScreen(Screen[None]):
    """Writing help on one text. Push it with a callable that returns the chat
    service (called in a worker thread, so it may open the database and load
    the model) and optionally a file."""

    DEFAULT_CSS = """
    WritingScreen #status { height: 1; padding: 0 1; background: $boost; }
    WritingScreen #source { height: 1fr; }
    WritingScreen #result { height: 1fr; border-top: solid $accent; }
    WritingScreen #changes { height: 1fr; border-top: solid $accent; }
    WritingScreen ChangeItem Label { width: 1fr; }
    """
    BINDINGS = [
        Binding("ctrl+o", "open_file", "Open file"),
        Binding("ctrl+s", "save", "Save"),
        Binding("f12", "save_as", "Save as"),
        Binding("ctrl+y", "copy_result", "Copy"),
        Binding("escape", "stop", "Stop", show=False),
    ]
    COMMANDS = Screen.COMMANDS | {WritingActionsProvider}

    def __init__(self, chat: ChatProvider, path: Path | None = None) -> None:
        super().__init__()
        self.chat = chat
        self.path = Path(path) if path is not None else None
        self.library: PromptLibrary | None = None
        self.conversation_id: int | None = None
        """The screen's own conversation, created by its first action."""
        self.cancel = threading.Event()
        self.busy = False
        self.diff: TextDiff | None = None
        self.result_text = ""
        self.last_action = ""
        self.last_template: PromptTemplate | None = None
        self.original_bytes: bytes | None = None
        self.saved_text = ""
        """The text as last loaded or saved: anything else is unsaved."""

    def compose(self) -> ComposeResult:
        yield Label("", id="status")
        yield TextArea(id="source", soft_wrap=True)
        yield Log(id="result", highlight=False)
        yield ChangeList(id="changes")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#changes").display = False
        self.load_library()
        if self.path is not None:
            self.load_file(self.path)
        else:
            self.set_status("Paste or type text, Ctrl+O to open a file, Ctrl+P for actions.")

    @work(thread=True, exit_on_error=False, group="writing-files")
    def load_library(self) -> None:
        from assistant.crashlog import describe_error

        try:
            self.post_message(LibraryLoaded(self.chat().library()))
        except Exception as exc:
            self.post_message(Failed(describe_error(exc)))

    @on(LibraryLoaded)
    def _library_loaded(self, message: LibraryLoaded) -> None:
        self.library = message.library

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self._unlock()
        self.notify(message.text, severity="error", markup=False)

    # ------------------------------------------------------------- helpers
    def set_status(self, text: str) -> None:
        self.query_one("#status", Label).update(Text(sanitize(text)))

    @work(thread=True, exit_on_error=False, group="writing-files")
    def load_file(self, path: Path) -> None:
        from assistant.chat.writing import read_input_text
        from assistant.crashlog import describe_error

        try:
            text = read_input_text(path)
            self.post_message(FileLoaded(path, text, path.read_bytes()))
        except Exception as exc:
            self.post_message(Failed(describe_error(exc)))

    @on(FileLoaded)
    def _file_loaded(self, message: FileLoaded) -> None:
        self.path = message.path
        self.original_bytes = message.data
        self.saved_text = message.text
        self.diff = None
        self.result_text = ""
        self.query_one("#source", TextArea).load_text(message.text)
        self._show_changes(False)
        self.set_status(f"{message.path} — Ctrl+P to choose an action.")

    def unsaved(self) -> bool:
        """True when closing or opening another file would lose something."""
        if self._current_text() != self.saved_text:
            return True
        return self.diff is not None and bool(self.accepted())

    def _show_changes(self, show: bool) -> None:
        self.query_one("#changes").display = show
        self.query_one("#result").display = not show

    def _current_text(self) -> str:
        return self.query_one("#source", TextArea).text

    # -------------------------------------------------------------- actions
    def start_action(self, name: str, variables: dict[str, str] | None = None) -> None:
        """Start template ``name`` on the text in the editor, with the rules
        of every writing action (``plan_action``, as the CLI)."""
        if self.busy:
            self.notify("An action is already running; Esc stops it.", severity="warning")
            return
        text = self._current_text()
        if not text.strip():
            self.notify("There is no text to work on.", severity="warning")
            return
        if self.library is None:
            self.notify("The prompt templates are not loaded yet.", severity="warning")
            return
        try:
            plan = plan_action(self.library, name, variables=variables)
        except WritingError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        template = plan.template
        asked = missing_argument(template, plan.variables)
        if asked is not None:  # translate's language, tone's tone: never a hidden default
            self._ask(name, asked, template, dict(variables or {}))
            return
        value = plan.variables.get(template.argument or "", "")
        label = f"{template.name} ({value})" if value else template.name
        self.busy = True
        self.cancel = threading.Event()
        self.diff = None
        self.result_text = ""
        self.last_action = template.name
        self.last_template = template
        self.query_one("#source", TextArea).read_only = True
        self.query_one("#result", Log).clear()
        self._show_changes(False)
        self.set_status(f"{label}: starting…")
        request = f"/{template.name} {value}".rstrip() + f"\n\n{text}"
        self._run_worker(template.name, label, request, plan.variables, text, self.cancel)

    def _ask(self, name: str, asked: str, template: PromptTemplate, given: dict[str, str]) -> None:
        variable = template.variables[asked]
        examples = variable.suggestions or variable.choices

        def answered(value: str | None) -> None:
            if value:
                self.start_action(name, {**given, asked: value})

        name = template.name[:1].upper() + template.name[1:]
        question = f"{name} — {variable.description or asked}"  # Translate — the language to …
        self.app.push_screen(AskScreen(question, examples), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group="writing")
    def _run_worker(
        self,
        name: str,
        label: str,
        request: str,
        variables: dict[str, str],
        text: str,
        cancel: threading.Event,
    ) -> None:
        """Run the action in the screen's conversation, through the chat
        service: each piece is stored before it is posted here."""
        from assistant.chat.events import ReplyDone, ReplyProgress, ReplyStarted, TextPiece
        from assistant.crashlog import describe_error

        source = self.path.name if self.path is not None else "pasted text"
        try:
            chat = self.chat()
            template = chat.library().template(name)
            events = chat.run_action(
                self.conversation_id, request, template, text, variables, cancel=cancel,
                title=f"Writing: {source}",
            )  # fmt: skip
            for event in events:
                if isinstance(event, ReplyStarted):
                    self.conversation_id = event.conversation_id
                elif isinstance(event, TextPiece):
                    self.post_message(ResultPiece(event.text))
                elif isinstance(event, ReplyProgress):
                    self.post_message(ActionStatus(f"{label}: part {event.part} of {event.parts}"))
                elif isinstance(event, ReplyDone):
                    if event.warning:
                        self.post_message(ActionStatus(event.warning))
                    reason = event.finished.finish_reason
                    self.post_message(
                        ActionFinished(label, text, event.message.content, reason,
                                       template.edits_text)
                    )  # fmt: skip
        except Exception as exc:
            self.post_message(ActionStatus("The action failed."))
            self.post_message(Failed(describe_error(exc)))

    @on(ResultPiece)
    def _piece(self, message: ResultPiece) -> None:
        self.query_one("#result", Log).write(sanitize(message.text))

    @on(ActionStatus)
    def _status(self, message: ActionStatus) -> None:
        self.set_status(message.text)

    @on(ActionFinished)
    async def _finished(self, message: ActionFinished) -> None:
        self._unlock()
        self.result_text = message.result
        if message.reason == "cancelled":
            self.set_status(f"{message.action}: stopped; your text is unchanged.")
            return
        if not message.edits:
            self.set_status(f"{message.action}: done. Ctrl+Y copies the result.")
            return
        result = keep_trailing_newline(message.original, message.result)
        self.diff = diff_texts(message.original, result)
        changes = self.query_one("#changes", ListView)
        await changes.clear()
        await changes.extend(ChangeItem(change) for change in self.diff.changes)
        if not self.diff.changes:
            self.set_status(f"{message.action}: no changes.")
            return
        self._show_changes(True)
        changes.index = 0
        changes.focus()
        held = sum(1 for item in changes.query(ChangeItem) if item.drops)
        note = (
            f" {held} {'leaves' if held == 1 else 'leave'} out a sentence and "
            f"{'starts' if held == 1 else 'start'} rejected."
            if held
            else ""
        )
        self.set_status(
            f"{message.action}: {plural(len(self.diff.changes), 'change')}.{note} "
            "A accepts, R rejects, "
            "Ctrl+S saves, Ctrl+Y copies."
        )

    def _unlock(self) -> None:
        self.busy = False
        self.query_one("#source", TextArea).read_only = False

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self._unlock()

    # -------------------------------------------------------- change review
    def accepted(self) -> set[int]:
        return {
            item.change.index
            for item in self.query_one("#changes", ListView).query(ChangeItem)
            if item.accepted
        }

    def final_text(self) -> str:
        """The text with the accepted changes, or the whole result of a
        new-text action (ending with a new line, as a text file does)."""
        if self.diff is not None:
            return self.diff.apply(self.accepted())
        if self.result_text:
            return self.result_text.rstrip("\n") + "\n"
        return self.result_text or self._current_text()

    # ---------------------------------------------------------- key actions
    def action_stop(self) -> None:
        if self.busy:
            self.cancel.set()
            self.set_status("Stopping…")

    def action_open_file(self) -> None:
        if self.busy:
            return
        folder = self.path.parent if self.path else Path.cwd()

        def opened(path: Path | None) -> None:
            if path is not None:
                self.load_file(path)

        def pick() -> None:
            self.app.push_screen(FilePickerScreen(folder), opened)

        self._unless_unsaved("Open another file?", "Your unsaved text here will be lost.", pick)

    def _unless_unsaved(self, title: str, text: str, then: Callable[[], None]) -> None:
        """Run ``then`` at once, or after the user agrees to lose unsaved text."""
        if not self.unsaved():
            then()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(ConfirmScreen(title, text, yes="Discard"), answered)

    def action_copy_result(self) -> None:
        self.app.copy_to_clipboard(self.final_text())
        self.notify("Copied to the clipboard.")

    def action_save(self) -> None:
        if self.busy:
            return
        if self.path is None:
            self.action_save_as()
            return
        if self.diff is None and self.result_text and self.last_template is not None:
            try:  # only an action that edits may replace the file, as in the CLI
                check_output(self.last_template, IN_PLACE, f"saving it over {self.path.name}")
            except WritingError as exc:
                self.notify(f"{exc} It is saved as a new file.", severity="warning", markup=False)
                self.action_save_as()
                return
        self._save(self.path, self.final_text(), self.original_bytes)

    def action_save_as(self) -> None:
        """Save to a path the user types (text pasted without a file, or a copy)."""
        if self.busy:
            return
        suggested = self.path or Path.cwd() / "untitled.md"
        if self.path is not None and self.diff is None and self.result_text:
            # a new text (a summary...) is suggested beside the file, never over it
            suggested = self.path.with_name(f"{self.path.stem}-{self.last_action}.md")
        text = self.final_text()

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._save_new(path, text, replace=False)

        self.app.push_screen(SaveAsScreen(suggested), chosen)

    @work(thread=True, exit_on_error=False, group="writing-files")
    def _save(self, path: Path, text: str, original: bytes | None) -> None:
        from assistant.chat.writing import write_back
        from assistant.crashlog import describe_error

        try:
            backup = write_back(path, original if original is not None else path.read_bytes(), text)
        except Exception as exc:
            self.post_message(Failed(_not_saved(path, describe_error(exc))))
            return
        self.post_message(Saved(path, text, backup))

    @work(thread=True, exit_on_error=False, group="writing-files")
    def _save_new(self, path: Path, text: str, replace: bool) -> None:
        """Save As: a new file, or (once the user agreed) over an existing
        one with a backup of it."""
        from assistant.chat.writing import check_new_file, save_new_file, write_back
        from assistant.crashlog import describe_error

        try:
            if path.exists():
                if not replace:
                    self.post_message(SaveNeedsConfirm(path, text))
                    return
                backup: Path | None = write_back(path, path.read_bytes(), text)
            else:
                check_new_file(path, force=True)  # its folder must exist: one sentence if not
                save_new_file(path, text, force=False)
                backup = None
        except WritingError as exc:  # already the sentence, naming the path
            self.post_message(Failed(str(exc)))
            return
        except Exception as exc:
            self.post_message(Failed(_not_saved(path, describe_error(exc))))
            return
        self.post_message(Saved(path, text, backup))

    @on(SaveNeedsConfirm)
    def _confirm_replace(self, message: SaveNeedsConfirm) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._save_new(message.path, message.text, replace=True)

        self.app.push_screen(
            ConfirmScreen(
                "Replace the file?", f"{message.path} exists (a backup is kept).", yes="Replace"
            ),
            answered,
        )

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        self.path = message.path
        self.original_bytes = message.text.encode("utf-8")
        self.saved_text = message.text
        self.query_one("#source", TextArea).load_text(message.text)
        self.diff = None
        self.result_text = ""  # what was saved is now the text on screen
        self._show_changes(False)
        path = message.path
        kept = f" (the previous version is in {message.backup.name})" if message.backup else ""
        self.set_status(f"Saved {path}{kept}.")
        self.notify(f"Saved {path.name}.")


def _not_saved(path: Path, sentence: str) -> str:
    """Why ``path`` was not saved, naming it once."""
    return sentence if str(path) in sentence else f"Could not save {path}: {sentence}"
