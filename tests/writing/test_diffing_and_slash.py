from __future__ import annotations

import pytest

from assistant.errors import WritingError
from assistant.writing.diffing import diff_texts, keep_trailing_newline
from assistant.writing.slash import complete_slash, help_lines, parse_slash
from assistant.writing.templates import load_library

ORIGINAL = "Title\n\nOne teh cat.\n\nTwo is fine.\n\nThree a dog.\n"
EDITED = "Title\n\nOne the cat.\n\nTwo is fine.\n\nThree, a dog.\nFour added.\n"


def test_each_change_is_accepted_or_rejected_on_its_own():
    diff = diff_texts(ORIGINAL, EDITED)
    assert len(diff.changes) == 2
    assert diff.apply(set()) == ORIGINAL
    assert diff.apply({0, 1}) == EDITED
    assert diff.apply({0}) == ORIGINAL.replace("teh", "the")
    assert diff.apply({1: True, 0: False}) == ORIGINAL.replace(
        "Three a dog.\n", "Three, a dog.\nFour added.\n"
    )
    assert diff.changes[1].old_lines == ("Three a dog.\n",)


def test_unified_diff_and_newline_convention():
    text = diff_texts("a\nb\n", "a\nc").unified("f.txt", "f.txt (edited)")
    assert text.startswith("--- f.txt\n+++ f.txt (edited)\n")
    assert "-b\n" in text and "+c\n" in text and "No newline at end of file" in text
    assert keep_trailing_newline("x\n", "y") == "y\n"
    assert keep_trailing_newline("x", "y\n\n") == "y"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return load_library(tmp_path_factory.mktemp("none"))


def test_slash_commands_parse_into_action_variables_and_text(library):
    cmd = parse_slash("/translate fr Bonjour tout le monde", library)
    assert (cmd.kind, cmd.name, cmd.variables, cmd.text) == (
        "action", "translate", {"language": "fr"}, "Bonjour tout le monde"
    )  # fmt: skip
    cmd = parse_slash("/summarize", library)
    assert cmd.name == "summarise" and cmd.uses_last_reply
    cmd = parse_slash("/tone formal hey dude", library)
    assert cmd.variables == {"tone": "formal"} and cmd.text == "hey dude"
    cmd = parse_slash("/tone Please make this nicer", library)
    assert cmd.variables == {} and cmd.text == "Please make this nicer"
    cmd = parse_slash("/translate German", library)
    assert cmd.variables == {"language": "German"} and cmd.uses_last_reply
    assert parse_slash("/persona editor", library).argument == "editor"
    assert parse_slash("/notes on", library).kind == "control"
    assert parse_slash("/new", library).name == "new"
    for bad, problem in [("/poem", "no writing action"), ("/persona pirate", "no persona"),
                         ("/notes maybe", "/notes on"), ("/", "Type a command")]:  # fmt: skip
        with pytest.raises(WritingError, match=problem):
            parse_slash(bad, library)


def test_slash_completion(library):
    from assistant.writing.slash import slash_choices

    # one line per template, its aliases named in what it does (issue 9, fault 7)
    assert complete_slash("/su", library) == ["/summarise"]
    (line, about), *_ = slash_choices("/summariz", library)
    assert line == "/summarise" and "(also /summarize" in about and about[0].isupper()
    assert all(about for _, about in slash_choices("/", library))
    assert complete_slash("/persona ", library)[-1] == "/persona default"
    assert parse_slash("/persona default", library).argument == "default"
    assert parse_slash("/persona", library).argument == ""
    assert complete_slash("/tone f", library) == ["/tone formal", "/tone friendly"]
    assert "/translate fr" in complete_slash("/translate f", library)
    assert complete_slash("/persona ed", library) == ["/persona editor"]
    assert complete_slash("/notes o", library) == ["/notes on", "/notes off"]
    assert complete_slash("/hel", library) == ["/help"]
    assert complete_slash("hello", library) == []
    assert any(line.startswith("/translate [language]") for line in help_lines(library))
