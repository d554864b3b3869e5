"""Runs the real CLI with a scripted fake chat model that proposes memories,
for tests that drive it on a real terminal (a pseudo-terminal).

``python -m tests.memory_tty_driver REPLY PROPOSAL -- ARGS...``: the model
answers REPLY, then proposes PROPOSAL (e.g. ``NEW: I am vegetarian.``) when
the chat service asks it; ARGS are the ``assistant`` arguments.
"""

from __future__ import annotations

import sys

from tests.fakes import ProposingFakeModel


def main(argv: list[str]) -> int:
    split = argv.index("--")
    reply, proposal = argv[:split]
    model = ProposingFakeModel()
    model.enqueue(reply)
    model.propose(proposal.replace("\\n", "\n"))

    from assistant.runtime import Runtime

    Runtime.load_model = lambda self: model  # type: ignore[method-assign]
    from assistant.cli import main as cli

    code = cli(argv[split + 1 :])
    sys.stderr.write(f"\n[model calls: {len(model.history)}]\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
