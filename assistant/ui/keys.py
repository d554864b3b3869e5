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
    KeyHelp("Enter", "send the message (while a reply streams: queue it)", "input"),
    KeyHelp("Shift+Enter / Ctrl+J", "insert a new line", "input"),
    KeyHelp(
        "Up / Down", "your earlier messages (empty box; Up first takes back a queued one)", "input"
    ),
    KeyHelp("PageUp / PageDown", "scroll the conversation", "input"),
    KeyHelp("Esc", "stop the reply, keep what was written; leave an edit; back to the box"),
    KeyHelp("Ctrl+R", "answer again (the old reply stays as a branch)"),
    KeyHelp("Alt+Left / Alt+Right", "previous / next version of the nearest message with others"),
    KeyHelp("Ctrl+Up", "pick a message (then Up/Down, and the keys below)"),
    KeyHelp("Up / Down, Home / End", "pick a message; the first / the last", "messages"),
    KeyHelp("Left / Right, [ / ]", "previous / next version of the picked message", "messages"),
    KeyHelp("e", "edit the picked message of yours (a new version)", "messages"),
    KeyHelp("r", "answer the picked message again", "messages"),
    KeyHelp("f", "fork: copy the branch up to here into a new conversation", "messages"),
    KeyHelp("c", "copy the picked message", "messages"),
    KeyHelp("Ctrl+O", "copy the last reply to the clipboard"),
    KeyHelp("Ctrl+G", "copy a code block of the last reply (again: earlier)"),
    KeyHelp("click a code block", "copy that code block"),
    KeyHelp("Ctrl+N", "start a new conversation"),
    KeyHelp("Ctrl+S", "export the conversation (Markdown or JSON, with sources)"),
    KeyHelp("F2", "rename the conversation"),
    KeyHelp("F8", "delete the conversation (asks first)"),
    KeyHelp("Ctrl+F", "filter the conversations (titles and text)"),
    KeyHelp("Ctrl+B", "show or hide the sidebar"),
    KeyHelp("Up / Down, Enter", "move, open a conversation", "sidebar"),
    KeyHelp("Delete / r", "delete / rename the highlighted one", "sidebar"),
    KeyHelp("F5", "use my notes for this conversation, or not (also /notes on|off)"),
    KeyHelp("F10", "let replies in this conversation call tools, or not (also /tools on|off)"),
    KeyHelp("Enter / click a tool call", "open or close the tool call: arguments and result"),
    KeyHelp("F3", "move to the sources of the selected reply"),
    KeyHelp("Enter / e", "open the selected source (PDF, DOCX: the passage)", "sources"),
    KeyHelp("click a reply", "show that reply's sources"),
    KeyHelp("F9", "retrieval view: keyword rank, vector rank, fused score"),
    KeyHelp("/", "slash commands (/help lists them); Tab completes", "input"),
    KeyHelp("@", "attach a file to the message (@report.pdf); Tab completes the path", "input"),
    KeyHelp("F4", "open the writing screen, and back"),
    KeyHelp("F7", "your memories: read, edit, delete; memory on or off"),
    KeyHelp("Ctrl+L", "switch the model: local ones with size, quant and fit, and engines'"),
    KeyHelp("Ctrl+T", "open the compose screen (new writing from a brief), and back"),
    KeyHelp("Ctrl+O / Ctrl+G", "plan the outline / write the piece", "compose"),
    KeyHelp("Ctrl+S / Ctrl+L", "save the piece as a file / open a stored draft", "compose"),
    KeyHelp("F5 / Esc", "write from my notes or not / stop (or back)", "compose"),
    KeyHelp("Tab / Shift+Tab", "move between sidebar, chat and input"),
    KeyHelp("F1 / ?", "show this help (? outside the input)"),
    KeyHelp("Ctrl+P", "command palette; type words to search every conversation"),
    KeyHelp("Ctrl+Q", "quit (a streaming reply is stopped, kept)"),
)

# Textual key names of the app's bindings, mapped to the row that documents them.
BINDING_KEYS: dict[str, str] = {
    "escape": "Esc",
    "ctrl+r": "Ctrl+R",
    "ctrl+o": "Ctrl+O",
    "ctrl+g": "Ctrl+G",
    "ctrl+n": "Ctrl+N",
    "ctrl+s": "Ctrl+S",
    "ctrl+f": "Ctrl+F",
    "ctrl+b": "Ctrl+B",
    "ctrl+up": "Ctrl+Up",
    "alt+left": "Alt+Left / Alt+Right",
    "alt+right": "Alt+Left / Alt+Right",
    "f2": "F2",
    "f8": "F8",
    "f4": "F4",
    "ctrl+t": "Ctrl+T",
    "f5": "F5",
    "f10": "F10",
    "f3": "F3",
    "f9": "F9",
    "e": "Enter / e",
    "f1": "F1 / ?",
    "question_mark": "F1 / ?",
    "ctrl+q": "Ctrl+Q",
    "ctrl+l": "Ctrl+L",
    "f7": "F7",
    "delete": "Delete / r",
    "r": "Delete / r",
    "enter": "Enter",
    "shift+enter": "Shift+Enter / Ctrl+J",
    "ctrl+j": "Shift+Enter / Ctrl+J",
}

# The chat view's keys (when a message is picked), likewise.
MESSAGE_KEYS: dict[str, str] = {
    "up": "Up / Down, Home / End",
    "down": "Up / Down, Home / End",
    "k": "Up / Down, Home / End",
    "j": "Up / Down, Home / End",
    "home": "Up / Down, Home / End",
    "end": "Up / Down, Home / End",
    "left": "Left / Right, [ / ]",
    "right": "Left / Right, [ / ]",
    "[": "Left / Right, [ / ]",
    "]": "Left / Right, [ / ]",
    "left_square_bracket": "Left / Right, [ / ]",
    "right_square_bracket": "Left / Right, [ / ]",
    "e": "e",
    "r": "r",
    "f": "f",
    "c": "c",
    "enter": "click a reply",
    "escape": "Esc",
}
