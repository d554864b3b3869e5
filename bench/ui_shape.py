"""The shape of the UI code and its tests (issue 18), printed, not asserted.

- the number of lines of each ``assistant/ui`` module, the largest first;
- Pilot tests (a test function that starts the app with ``run_test`` or
  takes a snapshot) against controller tests (the other test functions of a
  module that imports ``assistant.chat.controller``), counted on the source
  with ``ast``; parametrised tests count once per function.

Run: ``python -m bench.ui_shape [ROOT]`` (ROOT: a checkout, default this one),
so a checkout of main can be measured beside this one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_lines(root: Path) -> list[tuple[int, str]]:
    found = []
    for path in sorted((root / "assistant" / "ui").glob("*.py")):
        found.append((len(path.read_text(encoding="utf-8").splitlines()), path.name))
    return sorted(found, reverse=True)


def _uses(node: ast.AST, names: set[str]) -> bool:
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute) and child.attr in names:
            return True
        if isinstance(child, ast.Name) and child.id in names:
            return True
    return False


def count_tests(root: Path) -> tuple[int, int, int]:
    """(Pilot tests, controller tests, all tests)."""
    pilot = controller = total = 0
    for path in sorted((root / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        drives_controller = any(
            isinstance(n, ast.ImportFrom) and n.module == "assistant.chat.controller"
            for n in ast.walk(tree)
        )
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if not node.name.startswith("test_"):
                continue
            total += 1
            if _uses(node, {"run_test", "snap_compare"}):
                pilot += 1
            elif drives_controller:
                controller += 1
    return pilot, controller, total


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    lines = module_lines(root)
    pilot, controller, total = count_tests(root)
    print(f"ui_shape: {root}")
    print(f"ui_shape: largest ui module {lines[0][1]}: {lines[0][0]} lines")
    print("ui_shape: ui modules " + ", ".join(f"{name} {n}" for n, name in lines))
    print(
        f"ui_shape: tests {total}: Pilot {pilot}, controller {controller} "
        f"(Pilot share {pilot / total:.0%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
