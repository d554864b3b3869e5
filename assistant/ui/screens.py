"""Modal screens: help, confirmations, rename, export, a cited passage,
retrieval view.

Each modal is typed by what it returns through ``dismiss()``; Esc always
closes it without doing anything. None of them touches a file: the app does
that in workers with what they return.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from assistant.chat.updates import RetrievedPassage
from assistant.domain import Citation, plural
from assistant.textsafe import sanitize
from assistant.ui.keys import KEY_TABLE
from assistant.ui.widgets import plain

RANK_COLUMNS = ("#", "Source", "Heading", "Keyword rank", "Vector rank", "Fused score")


Search = Callable[[str], Awaitable["list[RetrievedPassage] | str"]]


def highlighted(snippet: str, spans: Sequence[tuple[int, int]]) -> Content:
    """The snippet as content with the matched words in bold reverse; widths
    (Chinese characters take two cells) are Textual's own."""
    from assistant.textsafe import one_line

    content = Content(one_line(snippet))
    for start, end in spans:
        content = content.stylize("bold reverse", start, end)
    return content


class HelpScreen(ModalScreen[None]):
    """Every key of the app, from ``assistant.ui.keys.KEY_TABLE``."""

    BINDINGS = [("escape,f1,question_mark,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="help"):
            yield Label("Keys", classes="dialog-title")
            table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns("Key", "What it does")
            for row in KEY_TABLE:
                where = "" if row.where == "anywhere" else f"  ({row.where})"
                table.add_row(row.keys, row.action + where)
            yield table
            yield Label("Esc closes this help.", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmDeleteScreen(ModalScreen[bool]):
    """Asks before a conversation and all its messages are deleted."""

    BINDINGS = [("escape,n", "answer(False)", "Keep"), ("y", "answer(True)", "Delete")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.conversation_title = sanitize(title)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            yield Label("Delete this conversation?", classes="dialog-title")
            yield Static(
                plain(f"“{self.conversation_title}” and all its messages are removed."),
                classes="dialog-text",
            )
            with Horizontal(classes="buttons"):
                yield Button("Delete", variant="error", id="yes")
                yield Button("Keep", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; the safe answer has the focus, Esc and n say no."""

    BINDINGS = [("escape,n", "answer(False)", "No"), ("y", "answer(True)", "Yes")]

    def __init__(self, title: str, text: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self.question = title
        self.text = text
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            yield Label(plain(self.question), classes="dialog-title")
            yield Static(plain(self.text), classes="dialog-text")
            with Horizontal(classes="buttons"):
                yield Button(self.yes, variant="warning", id="yes")
                yield Button(self.no, variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class PathScreen(ModalScreen[Path | None]):
    """Asks for a path, the suggestion filled in with the cursor at its end:
    Enter returns it, Esc returns None. Subclasses say what it is for."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, suggested: Path) -> None:
        super().__init__()
        self.suggested = suggested

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.focus()
        field.cursor_position = len(field.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(Path(value).expanduser() if value else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SaveAsScreen(PathScreen):
    """The path to save a text to (an existing file is replaced only after a
    ConfirmScreen)."""

    DEFAULT_CSS = """
    SaveAsScreen { align: center middle; }
    SaveAsScreen > Vertical { width: 80%; max-width: 100; height: auto; border: round $accent;
        background: $surface; padding: 1 2; }
    SaveAsScreen Label { width: 100%; }
    """

    def __init__(self, suggested: Path, title: str = "Save the text as") -> None:
        super().__init__(suggested)
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(value=str(self.suggested), id="save-path")
            yield Label("Enter saves, Esc cancels. An existing file is replaced only if you agree.")


class ExportScreen(PathScreen):
    """Where to export the conversation; a name ending in .json writes JSON
    (every branch), anything else Markdown (the current branch); both carry
    the sources."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="export"):
            yield Label("Export the conversation", classes="dialog-title")
            yield Input(value=str(self.suggested), id="export-path")
            yield Label(
                "Ends in .json: every branch as JSON; otherwise the current branch as "
                "Markdown. Both list the sources. Enter writes, Esc cancels.",
                classes="dialog-hint",
            )


class PassageScreen(ModalScreen[bool]):
    """A cited passage of a file $EDITOR cannot open (PDF, DOCX): the text
    the reply was given, where it is, and ``o`` to open the file in the
    system's viewer when there is one (returns True for that)."""

    BINDINGS = [("escape,q", "close", "Close"), ("o", "open_file", "Open the file")]

    def __init__(self, where: str, text: str, can_open: bool) -> None:
        super().__init__()
        self.where = where
        self.text = text
        self.can_open = can_open

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="passage"):
            yield Label(plain(self.where), classes="dialog-title")
            with VerticalScroll(id="passage-text"):
                yield Static(plain(self.text), markup=False)
            hint = "o opens the file in your viewer, Esc closes." if self.can_open else (
                "Esc closes. (No viewer was found to open the file itself.)"
            )  # fmt: skip
            yield Label(hint, classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#passage-text").focus()

    def action_open_file(self) -> None:
        if self.can_open:
            self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(False)


class AskScreen(ModalScreen[str | None]):
    """One question with a free answer (the language to translate into, the
    tone); suggestions are listed under it. Enter answers, Esc cancels."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, question: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__()
        self.question = question
        self.suggestions = list(suggestions)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="ask"):
            yield Label(plain(self.question), classes="dialog-title")
            yield Input(id="answer")
            examples = ", ".join(self.suggestions)
            hint = f"For example: {examples}. " if examples else ""
            yield Label(plain(f"{hint}Enter runs it, Esc cancels."), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(" ".join(event.value.split()) or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class RenameScreen(ModalScreen[str | None]):
    """Asks for a new title; returns it, or None when cancelled."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.current_title = sanitize(title)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="rename"):
            yield Label("Rename the conversation", classes="dialog-title")
            yield Input(value=self.current_title, id="title")
            yield Label("Enter saves, Esc cancels.", classes="dialog-hint")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        title = " ".join(event.value.split())
        self.dismiss(title or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def rank_row(n: int, hit: Citation) -> tuple[str, ...]:
    """One table row from a citation (or a search hit turned into one)."""

    def rank(value: object) -> str:
        return "–" if value is None else str(value)

    return (
        str(n),
        sanitize(hit.source),
        sanitize(hit.heading),
        rank(hit.keyword_rank),
        rank(hit.vector_rank),
        f"{hit.score:.4f}" if hit.score is not None else "–",
    )


class RetrievalScreen(ModalScreen[None]):
    """How each passage was found: keyword rank, vector rank and fused score.

    It opens on the passages of the selected grounded reply (their ranks are
    stored in its citations); a query typed at the top searches the notes
    again through ``search`` (the passages, or why the search failed).
    """

    BINDINGS = [("escape", "close", "Close")]

    def __init__(self, passages: list[Citation], search: Search) -> None:
        super().__init__()
        self.passages = passages
        self.search = search
        self.last_query = ""
        self.rows: list[RetrievedPassage] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="retrieval"):
            yield Label("Retrieval", classes="dialog-title")
            yield Input(placeholder="Search the notes (Enter)", id="retrieval-query")
            yield Static(id="retrieval-about", markup=False)
            table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns(*RANK_COLUMNS)
            yield table
            yield Static(id="retrieval-snippet", markup=False)
            yield Label(
                "Ranks: 1 is best, – means not found that way. Esc closes.", classes="dialog-hint"
            )

    def on_mount(self) -> None:
        if self.passages:
            self.fill(self.passages, "Passages of the selected reply")
            self.query_one(DataTable).focus()
        else:
            self.fill([], "The selected reply used no notes; type a query.")
            self.query_one(Input).focus()

    def fill(self, passages: Sequence[Citation | RetrievedPassage], about: str) -> None:
        self.query_one("#retrieval-about", Static).update(plain(about))
        self.rows = [
            p if isinstance(p, RetrievedPassage) else RetrievedPassage(p) for p in passages
        ]
        table = self.query_one(DataTable)
        table.clear()
        for n, row in enumerate(self.rows, start=1):
            table.add_row(*rank_row(row.citation.n or n, row.citation))
        self.show_snippet(0)

    def show_snippet(self, index: int) -> None:
        snippet = self.query_one("#retrieval-snippet", Static)
        row = self.rows[index] if 0 <= index < len(self.rows) else None
        snippet.display = bool(row and row.snippet)
        if row is not None and row.snippet:
            snippet.update(highlighted(row.snippet, row.highlights))

    @on(DataTable.RowHighlighted)
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_snippet(event.cursor_row)

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        query = event.value.strip()
        if query:
            self.last_query = query
            self.query_one("#retrieval-about", Static).update(plain("Searching…"))
            self.run_search(query)

    @work(exclusive=True, exit_on_error=False, group="retrieval")
    async def run_search(self, query: str) -> None:
        result = await self.search(query)
        if isinstance(result, str):
            self.fill([], result)
            return
        found = plural(len(result), "passage")
        about = f"{found} for “{self.last_query}”" if result else "Nothing found."
        self.fill(result, about)

    def action_close(self) -> None:
        self.dismiss(None)
