"""Read tool calls out of the text an in-process model writes.

A remote engine hands calls over as structured ``tool_calls``; a GGUF model
loaded here writes them as text in its family's own format, which its chat
template taught it. Each format is parsed as its makers document it:

- ``hermes`` (Qwen 2.5/3, Hermes, many fine-tunes): ``<tool_call>{"name": ...,
  "arguments": {...}}</tool_call>``, one block per call, after optional text;
- ``llama3`` (Llama 3.1-3.3 JSON tool calling): the whole reply is
  ``{"name": ..., "parameters": {...}}``, maybe after ``<|python_tag|>``,
  several separated by ``;``;
- ``pythonic`` (Llama 3.2 small models, Llama 4, Gemma's prompt-based calling):
  the whole reply is ``[name(arg=value, ...), ...]``, or Gemma's
  ```` ```tool_code ```` block holding the calls;
- ``mistral``: ``[TOOL_CALLS] [{"name": ..., "arguments": {...}}]`` (v3 and
  v7 tokenizers) or ``[TOOL_CALLS]name[ARGS]{...}`` (v11 and later);
- ``functiongemma``: ``<start_function_call>call:name{key:<escape>value<escape>}
  <end_function_call>``.

The decision a reader must know: formats that mark a call (a tag) may follow
some text, which streams to the user until the tag appears; formats whose
call is the whole reply (``llama3``, ``pythonic``) are only read as calls when
the reply starts like one and names a tool that was offered, and such a reply
is held back until it ends. Text that turns out not to be a call is given back
whole, so nothing the model wrote is lost.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum
from typing import Any

from assistant.domain import ToolCall


class ToolCallFormat(StrEnum):
    HERMES = "hermes"
    LLAMA3 = "llama3"
    PYTHONIC = "pythonic"
    MISTRAL = "mistral"
    FUNCTIONGEMMA = "functiongemma"


# Markers that start a call in the formats that have one.
_MARKERS: dict[ToolCallFormat, tuple[str, ...]] = {
    ToolCallFormat.HERMES: ("<tool_call>",),
    ToolCallFormat.MISTRAL: ("[TOOL_CALLS]",),
    ToolCallFormat.FUNCTIONGEMMA: ("<start_function_call>",),
    ToolCallFormat.LLAMA3: ("<|python_tag|>",),
    ToolCallFormat.PYTHONIC: ("```tool_code",),
}
# Formats whose call is the whole reply: it starts with one of these.
_LEADING: dict[ToolCallFormat, str] = {
    ToolCallFormat.LLAMA3: "{",
    ToolCallFormat.PYTHONIC: "[",
}


def detect_format(template: str) -> ToolCallFormat | None:
    """The call format a chat template teaches, from the markers it writes;
    None when it names none (every format is then tried)."""
    if "<tool_call>" in template:
        return ToolCallFormat.HERMES
    if "[TOOL_CALLS]" in template:
        return ToolCallFormat.MISTRAL
    if "start_function_call" in template:
        return ToolCallFormat.FUNCTIONGEMMA
    if "<|python_tag|>" in template or "ipython" in template:
        # Llama 3.1-3.3 teach JSON; the 3.2 small models and Llama 4 teach
        # the pythonic list ("[func_name1(params_name1=params_value1...)]").
        if "func_name1(" in template or "[func_name" in template:
            return ToolCallFormat.PYTHONIC
        return ToolCallFormat.LLAMA3
    if "tool_code" in template or "[func_name" in template:
        return ToolCallFormat.PYTHONIC
    return None


def new_call_id() -> str:
    """An id for a call the model gave none: 9 letters and digits, which
    every family accepts (Mistral's templates insist on exactly that)."""
    return uuid.uuid4().hex[:9]


def _arguments(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            return None
    if value is None:
        return {}
    return dict(value) if isinstance(value, Mapping) else None


def _call_from_object(
    obj: Any, keys: tuple[str, ...] = ("arguments", "parameters")
) -> ToolCall | None:
    if not isinstance(obj, Mapping):
        return None
    if isinstance(obj.get("function"), Mapping):  # {"function": {"name", "arguments"}}
        obj = {**obj["function"], "id": obj.get("id")}
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    raw: Any = next((obj[k] for k in keys if k in obj), {})
    arguments = _arguments(raw)
    if arguments is None:
        return None
    call_id = obj.get("id")
    return ToolCall(
        id=str(call_id) if isinstance(call_id, str) and call_id else new_call_id(),
        name=name.strip(),
        arguments=arguments,
    )


def _json_values(text: str) -> list[Any] | None:
    """Every JSON value in ``text`` one after another (separated by spaces,
    ``;`` or ``,``); None when anything else is there."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    at = 0
    while True:
        while at < len(text) and text[at] in " \t\r\n;,":
            at += 1
        if at >= len(text):
            return values
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError:
            return None
        values.append(value)


# ------------------------------------------------------------ per format
def parse_hermes(text: str) -> tuple[str, list[ToolCall]]:
    calls: list[ToolCall] = []
    kept: list[str] = []
    at = 0
    for match in re.finditer(r"<tool_call>(.*?)(?:</tool_call>|$)", text, re.S):
        body = match.group(1).strip()
        values = _json_values(body)
        found = [c for c in (_call_from_object(v) for v in values or []) if c]
        if not found:
            continue
        kept.append(text[at : match.start()])
        at = match.end()
        calls.extend(found)
    kept.append(text[at:])
    return "".join(kept).strip(), calls


def parse_llama3(text: str, known: Collection[str] | None = None) -> tuple[str, list[ToolCall]]:
    body = text.strip()
    body = body.removeprefix("<|python_tag|>").strip()
    values = _json_values(body)
    if not values:
        return text, []
    flat: list[Any] = []
    for value in values:
        flat.extend(value if isinstance(value, list) else [value])
    calls = [_call_from_object(v, ("parameters", "arguments")) for v in flat]
    if not calls or any(c is None for c in calls):
        return text, []
    found = [c for c in calls if c is not None]
    if known is not None and any(c.name not in known for c in found):
        return text, []
    return "", found


def _literal(node: ast.expr) -> Any:
    return ast.literal_eval(node)


def _pythonic_calls(source: str) -> list[ToolCall] | None:
    """``[f(a=1), g(b="x")]`` or ``f(a=1)`` (one per line): keyword arguments
    with literal values only (nothing is ever evaluated)."""
    source = source.strip()
    if not source:
        return None
    try:
        tree = ast.parse(source, mode="exec")
    except (SyntaxError, ValueError):
        return None
    nodes: list[ast.expr] = []
    for stmt in tree.body:
        if not isinstance(stmt, ast.Expr):
            return None
        value = stmt.value
        if isinstance(value, ast.List | ast.Tuple):
            nodes.extend(value.elts)
        else:
            nodes.append(value)
    calls: list[ToolCall] = []
    for node in nodes:
        if not isinstance(node, ast.Call) or node.args:
            return None
        func = node.func
        if isinstance(func, ast.Name):
            name = func.id
        elif isinstance(func, ast.Attribute):  # module.func: the last part names it
            name = func.attr
        else:
            return None
        arguments: dict[str, Any] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                return None
            try:
                arguments[keyword.arg] = _literal(keyword.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                return None
        calls.append(ToolCall(new_call_id(), name, arguments))
    return calls or None


def parse_pythonic(text: str, known: Collection[str] | None = None) -> tuple[str, list[ToolCall]]:
    block = re.search(r"```tool_code\s*\n(.*?)(?:```|$)", text, re.S)
    if block:
        calls = _pythonic_calls(block.group(1))
        if calls and (known is None or all(c.name in known for c in calls)):
            rest = (text[: block.start()] + text[block.end() :]).strip()
            return rest, calls
        return text, []
    body = text.strip()
    if not body.startswith("["):
        return text, []
    calls = _pythonic_calls(body)
    if not calls or (known is not None and any(c.name not in known for c in calls)):
        return text, []
    return "", calls


def parse_mistral(text: str) -> tuple[str, list[ToolCall]]:
    at = text.find("[TOOL_CALLS]")
    if at < 0:
        return text, []
    before, body = text[:at], text[at:]
    calls: list[ToolCall] = []
    for part in body.split("[TOOL_CALLS]")[1:]:
        part = part.strip()
        if not part:
            continue
        if part.startswith(("[", "{")):  # v3 / v7: a JSON list of calls
            values = _json_values(part)
            if values is None:
                return text, []
            for value in values:
                for item in value if isinstance(value, list) else [value]:
                    call = _call_from_object(item)
                    if call is None:
                        return text, []
                    calls.append(call)
            continue
        # v11+: name[ARGS]{json}, optionally name[CALL_ID]id[ARGS]{json}
        match = re.match(r"([\w.\-]+)(?:\[CALL_ID\]([A-Za-z0-9]+))?\[ARGS\](.*)$", part, re.S)
        if not match:
            return text, []
        arguments = _arguments(match.group(3).strip())
        if arguments is None:
            values = _json_values(match.group(3))
            if not values or not isinstance(values[0], Mapping):
                return text, []
            arguments = dict(values[0])
        calls.append(ToolCall(match.group(2) or new_call_id(), match.group(1), arguments))
    return before.strip(), calls


_FG_CALL = re.compile(
    r"<start_function_call>\s*call:([\w.\-]+)\{(.*?)\}\s*(?:<end_function_call>|$)", re.S
)
_ESCAPE = "<escape>"


def _functiongemma_arguments(body: str) -> dict[str, Any] | None:
    """``key:<escape>text<escape>,n:3,flag:true``: strings between
    ``<escape>`` markers, other values as JSON literals."""
    arguments: dict[str, Any] = {}
    at = 0
    while at < len(body):
        while at < len(body) and body[at] in " ,\n":
            at += 1
        if at >= len(body):
            break
        colon = body.find(":", at)
        if colon < 0:
            return None
        key = body[at:colon].strip()
        at = colon + 1
        if body.startswith(_ESCAPE, at):
            end = body.find(_ESCAPE, at + len(_ESCAPE))
            if end < 0:
                return None
            arguments[key] = body[at + len(_ESCAPE) : end]
            at = end + len(_ESCAPE)
            continue
        end = body.find(",", at)
        end = len(body) if end < 0 else end
        raw = body[at:end].strip()
        try:
            arguments[key] = json.loads(raw)
        except ValueError:
            arguments[key] = raw
        at = end
    return arguments


def parse_functiongemma(text: str) -> tuple[str, list[ToolCall]]:
    calls: list[ToolCall] = []
    for match in _FG_CALL.finditer(text):
        arguments = _functiongemma_arguments(match.group(2))
        if arguments is None:
            return text, []
        calls.append(ToolCall(new_call_id(), match.group(1), arguments))
    if not calls:
        return text, []
    first = text.find("<start_function_call>")
    return text[:first].strip(), calls


def parse_tool_calls(
    text: str, fmt: ToolCallFormat | None = None, known: Collection[str] | None = None
) -> tuple[str, list[ToolCall]]:
    """(the text that is not a call, the calls) of a finished reply.
    ``fmt`` None tries every format; ``known`` are the names offered."""
    formats: Iterable[ToolCallFormat] = [fmt] if fmt is not None else list(ToolCallFormat)
    for each in formats:
        if each == ToolCallFormat.HERMES:
            rest, calls = parse_hermes(text)
        elif each == ToolCallFormat.MISTRAL:
            rest, calls = parse_mistral(text)
        elif each == ToolCallFormat.FUNCTIONGEMMA:
            rest, calls = parse_functiongemma(text)
        elif each == ToolCallFormat.LLAMA3:
            rest, calls = parse_llama3(text, known)
        else:
            rest, calls = parse_pythonic(text, known)
        if calls:
            return rest, calls
    return text, []


class ToolCallScanner:
    """Split a streaming reply into text to show now and calls read at the
    end. Text before a call marker streams; from the marker on (or from the
    start, for a reply that opens like a whole-reply call) it is held."""

    def __init__(self, fmt: ToolCallFormat | None, known: Collection[str]) -> None:
        self.fmt = fmt
        self.known = known
        formats = [fmt] if fmt is not None else list(ToolCallFormat)
        self.markers = [m for f in formats for m in _MARKERS.get(f, ())]
        self.leading = tuple(_LEADING[f] for f in formats if f in _LEADING)
        self._held = ""
        self._captured: str | None = None
        self._started = False  # something other than blanks was shown

    def feed(self, text: str) -> str:
        if self._captured is not None:
            self._captured += text
            return ""
        buf = self._held + text
        if not self._started:
            stripped = buf.lstrip()
            if not stripped:
                self._held = buf
                return ""
            if self.leading and stripped.startswith(self.leading):
                self._captured, self._held = buf, ""
                return ""
            self._started = True
        cut = min((i for i in (buf.find(m) for m in self.markers) if i >= 0), default=-1)
        if cut >= 0:
            self._captured, self._held = buf[cut:], ""
            return buf[:cut]
        keep = 0
        for marker in self.markers:
            for n in range(min(len(marker) - 1, len(buf)), 0, -1):
                if buf.endswith(marker[:n]):
                    keep = max(keep, n)
                    break
        self._held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep] if keep else buf

    def finish(self) -> tuple[str, list[ToolCall]]:
        """(text still to show, the calls): held text that was no call comes back."""
        if self._captured is None:
            rest, self._held = self._held, ""
            return rest, []
        captured, self._captured = self._captured, None
        rest, calls = parse_tool_calls(captured, self.fmt, self.known)
        if not calls:
            return captured, []
        return rest, calls
