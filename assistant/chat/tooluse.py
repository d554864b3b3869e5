"""Tools in a reply: which ones, who approves them, and how a call is run.

``ToolUse`` is what a reply is given when tools are on: the tools offered,
the ``approve`` callback that asks the user, the names allowed without asking
(``--allow``) and the step limit. Approval is a callback of the application
layer so that each shell answers it its own way: the CLI asks on the
terminal, the UI will show a prompt, and with no callback (off a terminal) a
call that needs approval is refused with a sentence. The callback runs on
the reply's thread and may block until the user answers; it gets the
reply's cancel flag so a stop ends the wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from assistant.domain import ToolCall
from assistant.tools.base import DEFAULT_OUTPUT_CHARS, Tool

DEFAULT_MAX_STEPS = 5


def cannot_call_tools(model_name: str, going_on: str) -> str:
    """The one sentence for a model that cannot call tools; ``going_on``
    says what happens instead ("this answer is written without them")."""
    return (
        f"{model_name} cannot call tools (its chat template does not offer them; "
        f"the bundled base model has none), so {going_on}."
    )


class Approval(StrEnum):
    ONCE = "once"  # run this call
    CONVERSATION = "conversation"  # run it, and every call of this tool in this conversation
    DENY = "deny"


@dataclass(frozen=True)
class ApprovalRequest:
    conversation_id: int
    call: ToolCall
    tool: Tool

    @property
    def shown(self) -> str:
        """The call as the user is shown it: for a command, the command itself."""
        if self.tool.name == "run_command" and isinstance(self.call.arguments.get("command"), str):
            return str(self.call.arguments["command"])
        return f"{self.call.name} {self.call.arguments_json()}"


Approver = Callable[[ApprovalRequest, threading.Event], Approval]


class ToolOutcome(StrEnum):
    """How a call ended; stored as the tool message's finish reason."""

    OK = "ok"
    ERROR = "error"
    DENIED = "denied"  # the user said no
    REFUSED = "refused"  # approval was needed and no one could be asked
    STOPPED = "stopped"
    UNKNOWN = "unknown"  # the model called a tool it was not offered


@dataclass
class ToolUse:
    tools: Sequence[Tool]
    approve: Approver | None = None
    allowed: frozenset[str] = frozenset()  # run without asking (--allow NAME)
    max_steps: int = DEFAULT_MAX_STEPS
    output_chars: int = DEFAULT_OUTPUT_CHARS
    _by_name: dict[str, Tool] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._by_name = {t.name: t for t in self.tools}

    def get(self, name: str) -> Tool | None:
        return self._by_name.get(name)
