"""Every key the UI answers to, in one table.

The help screen (F1, ``?``) shows this table and a test checks that every
binding of the app appears in it, so the help never drifts from the code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyHelp:
    keys: str  # as shown to the user, e.g. "Shift+Enter / Ctrl+J"
    action: str
    where: str = "anywhere"


KEY_TABLE: tuple[KeyHelp, ...] = (
    KeyHelp("Enter", "send the message", "input"),
    KeyHelp("Shift+Enter / Ctrl+J", "insert a new line", "input"),
    KeyHelp("Esc", "stop the reply, keep what was written", "streaming"),
    KeyHelp("Ctrl+R", "regenerate the last reply"),
    KeyHelp("Ctrl+O", "copy the last reply to the clipboard"),
    KeyHelp("Ctrl+G", "copy a code block of the last reply (again: earlier)"),
    KeyHelp("click a code block", "copy that code block"),
    KeyHelp("Ctrl+N", "start a new conversation"),
    KeyHelp("F2", "rename the conversation"),
    KeyHelp("F8", "delete the conversation (asks first)"),
    KeyHelp("Up / Down, Enter", "move, open a conversation", "sidebar"),
    KeyHelp("Delete / r", "delete / rename the highlighted one", "sidebar"),
    KeyHelp("F5", "use my notes for this conversation, or not (also /notes on|off)"),
    KeyHelp("F3", "move to the sources of the selected reply"),
    KeyHelp("Enter / e", "open the selected source in $EDITOR at its line", "sources"),
    KeyHelp("click a reply", "show that reply's sources"),
    KeyHelp("F9", "retrieval view: keyword rank, vector rank, fused score"),
    KeyHelp("/", "slash commands (/help lists them); Tab completes", "input"),
    KeyHelp("F4", "open the writing screen, and back (when installed)"),
    KeyHelp("Ctrl+T", "open the compose screen (new writing from a brief), and back"),
    KeyHelp("Ctrl+O / Ctrl+G", "plan the outline / write the piece", "compose"),
    KeyHelp("Ctrl+S / Ctrl+L", "save the piece as a file / open a stored draft", "compose"),
    KeyHelp("F5 / Esc", "write from my notes or not / stop (or back)", "compose"),
    KeyHelp("Tab / Shift+Tab", "move between sidebar, chat and input"),
    KeyHelp("F1 / ?", "show this help (? outside the input)"),
    KeyHelp("Ctrl+P", "command palette"),
    KeyHelp("Ctrl+Q", "quit (a streaming reply is stopped, kept)"),
)

# Textual key names of the app's bindings, mapped to the row that documents them.
BINDING_KEYS: dict[str, str] = {
    "escape": "Esc",
    "ctrl+r": "Ctrl+R",
    "ctrl+o": "Ctrl+O",
    "ctrl+g": "Ctrl+G",
    "ctrl+n": "Ctrl+N",
    "f2": "F2",
    "f8": "F8",
    "f4": "F4",
    "ctrl+t": "Ctrl+T",
    "f5": "F5",
    "f3": "F3",
    "f9": "F9",
    "e": "Enter / e",
    "f1": "F1 / ?",
    "question_mark": "F1 / ?",
    "ctrl+q": "Ctrl+Q",
    "delete": "Delete / r",
    "r": "Delete / r",
    "enter": "Enter",
    "shift+enter": "Shift+Enter / Ctrl+J",
    "ctrl+j": "Shift+Enter / Ctrl+J",
}
