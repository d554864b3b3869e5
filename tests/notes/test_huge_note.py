"""A huge note (10 MB on one line became 7,881 passages, about 47 minutes of
embedding) is capped: the first passages of the file are indexed, and one
sentence says how many were left out and how much of the text that is; the
rest of the folder syncs as usual (issue 17, item 12).

The cap is ``MAX_PASSAGES_PER_FILE`` (2,000); these tests give the service a
small one so the real embedder does not spend minutes on a big file: the
mechanism is the same. ``bench.reliability`` syncs the real 10 MB line."""

from __future__ import annotations

import random

from assistant.notes.service import NotesService
from assistant.notes.sync import MAX_PASSAGES_PER_FILE
from assistant.paths import app_paths
from tests.notes.conftest import write

WORDS = "harbour lamp keeper storm ship night tide rope gull fog beacon stone island".split()


def one_line_text(words: int, seed: int = 3) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words)) + " zebrafinal"


def test_the_default_cap_holds_a_big_book_and_stops_a_ten_megabyte_line():
    # 2,000 passages of about 1,200 characters: some 2.4 MB of text, a long
    # book whole; 7,881 passages of one 10 MB line are not.
    assert MAX_PASSAGES_PER_FILE == 2000


def test_a_file_over_the_cap_is_indexed_up_to_it_and_says_what_was_left_out(db, embedder, folder):
    notes = NotesService(db, app_paths(), embedder=embedder, max_passages_per_file=20)
    big = write(folder, "dump.txt", "zebrafirst " + one_line_text(12_000))
    write(folder, "small.md", "# Small\n\nThe torque wrench is calibrated every spring.\n")
    notes.add_collection(folder, "mine")
    report = notes.sync()
    assert not report.cancelled
    said = [m for m in report.messages if "dump.txt" in m]
    assert len(said) == 1, report.messages
    sentence = said[0]
    assert "only its first 20 of" in sentence and "passages are indexed" in sentence
    total = int(sentence.split(" of ")[1].split()[0].replace(",", ""))
    assert total > 20
    assert "% of its text" in sentence and "split it" in sentence
    status = notes.status()
    assert status.chunks == 20 + 1 and status.vectors == 21  # the cap, and the small file
    # the start of the file is searchable, the part left out is not
    assert notes.search("zebrafirst", k=3, mode="keyword")[0].path == "dump.txt"
    assert notes.search("zebrafinal", k=3, mode="keyword") == []
    assert notes.search("torque wrench", k=1)[0].path == "small.md"

    again = notes.sync()  # unchanged: nothing read again, nothing said again
    assert again.files_unchanged == 2 and not [m for m in again.messages if "dump.txt" in m]
    big.write_text("zebrafirst " + one_line_text(400, seed=4))  # now under the cap
    third = notes.sync()
    assert not [m for m in third.messages if "dump.txt" in m]
    assert notes.search("zebrafinal", k=3, mode="keyword")[0].path == "dump.txt"
