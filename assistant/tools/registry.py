"""Every tool the app knows, by name, with where it comes from.

Built-in tools are registered when the registry is built; other sources
(each MCP server) are providers, asked for their tools the first time the
list is needed, so nothing is started before a tool is wanted. A provider
that fails leaves one sentence in ``warnings`` and the others keep working.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from assistant.errors import AssistantError, UsageError
from assistant.tools.base import Tool

ALL = "*"


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._providers: list[tuple[str, Callable[[], list[Tool]]]] = []
        self._loaded = False
        self._lock = threading.Lock()
        self.warnings: list[str] = []
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        """Add a tool; its name must be new."""
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name} is already registered")
        self._tools[tool.name] = tool

    def add_provider(self, label: str, load: Callable[[], list[Tool]]) -> None:
        """A source of tools read on first use (an MCP server): ``load``
        returns its tools or raises ``AssistantError`` with one sentence."""
        self._providers.append((label, load))
        self._loaded = False

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            pending, self._providers = self._providers, []
            for label, load in pending:
                try:
                    tools = load()
                except AssistantError as exc:
                    self.warnings.append(str(exc))
                    continue
                for tool in tools:
                    if tool.name in self._tools:
                        self.warnings.append(
                            f"{label}: its tool {tool.name} has the name of another tool "
                            "and is left out."
                        )
                        continue
                    self._tools[tool.name] = tool

    def tools(self) -> list[Tool]:
        """Every tool, built-in ones first."""
        self._load()
        return list(self._tools.values())

    def names(self) -> list[str]:
        return [t.name for t in self.tools()]

    def get(self, name: str) -> Tool | None:
        found = self._tools.get(name)
        if found is None:
            self._load()
            found = self._tools.get(name)
        return found

    def select(self, names: Sequence[str]) -> list[Tool]:
        """The tools ``names`` asks for (``*``: all); an unknown name is a
        ``UsageError`` that lists the known ones."""
        if ALL in names:
            return self.tools()
        chosen: list[Tool] = []
        for name in names:
            tool = self.get(name)
            if tool is None:
                known = ", ".join(self.names()) or "none"
                raise UsageError(f"There is no tool named {name} (tools: {known}).")
            if tool not in chosen:
                chosen.append(tool)
        return chosen


def parse_names(text: str) -> tuple[str, ...]:
    """``search_notes,now`` (or spaces) as names; empty or ``all``: every tool."""
    names = tuple(n for n in text.replace(",", " ").split() if n)
    if not names or names == ("all",):
        return (ALL,)
    return names
