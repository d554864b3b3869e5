"""Hybrid search finds planted facts at the right file and line range."""

from __future__ import annotations

import pytest

from tests.notes.conftest import write

FILLER = "\n".join(
    f"Paragraph {i} talks about ordinary chores, errands and the weather on day {i}.\n"
    for i in range(30)
)


@pytest.fixture
def planted(notes, folder):
    write(
        folder,
        "travel/japan.md",
        "# Japan trip\n\n"
        + FILLER
        + "\n## Rail\n\nThe JR pass must be exchanged at Narita before the first train ride.\n",
    )
    write(
        folder,
        "work/db.md",
        "# Database runbook\n\n## Failover\n\nPromote the replica with pg_ctl promote, "
        "then repoint the PgBouncer config.\n\n" + FILLER,
    )
    write(
        folder, "cooking.txt", "Cooking\n\n" + FILLER + "\nBlanch the almonds for sixty seconds.\n"
    )
    notes.add_collection(folder, "mine")
    write(folder.parent / "other", "x.md", "# Other\n\nAlmonds also appear in this folder.\n")
    notes.add_collection(folder.parent / "other", "other")
    notes.sync()
    return folder


def test_planted_facts_right_file_and_lines(notes, planted):
    hit = notes.search("where do I exchange the rail pass", k=3)[0]
    assert hit.path == "travel/japan.md"
    lines = (planted / "travel/japan.md").read_text().split("\n")
    assert "JR pass" in "\n".join(lines[hit.start_line - 1 : hit.end_line])
    assert hit.heading == "Japan trip > Rail"

    hit = notes.search("how to promote the database replica during failover", k=3)[0]
    assert hit.path == "work/db.md" and hit.heading == "Database runbook > Failover"
    assert hit.keyword_rank is not None and hit.vector_rank is not None
    assert hit.score > 0

    hit = notes.search("blanching almonds", k=1, collection="mine")[0]
    assert hit.path == "cooking.txt"
    text = (planted / "cooking.txt").read_text().split("\n")
    assert "almonds" in "\n".join(text[hit.start_line - 1 : hit.end_line])
    assert "Blanch" in hit.snippet
    start, end = hit.highlights[0]
    assert hit.snippet[start:end].lower().startswith(("blanch", "almond"))


def test_filters_by_collection_and_path_glob(notes, planted):
    other = notes.search("almonds", k=5, collection="other")
    assert {h.collection for h in other} == {"other"}
    only_work = notes.search("almonds replica rail", k=10, path_glob="work/*")
    assert only_work and {h.path for h in only_work} == {"work/db.md"}
    assert notes.search("almonds", k=5, path_glob="nothing/*") == []


def test_modes_and_batch_order(notes, planted):
    queries = ["JR pass Narita", "PgBouncer failover", "almonds"]
    hybrid = notes.search_many(queries, k=3)
    assert [h[0].path for h in hybrid[:2]] == ["travel/japan.md", "work/db.md"]
    keyword = notes.search("PgBouncer", k=3, mode="keyword")
    assert keyword[0].vector_rank is None and keyword[0].keyword_rank == 1
    # A paraphrase with a clear margin: the runbook's chunk is mostly filler,
    # so a vaguer query scored it within 0.03 of an unrelated note.
    vector = notes.search("how to fail over the postgres database", k=3, mode="vector")
    assert vector[0].keyword_rank is None and vector[0].path == "work/db.md"


def test_unknown_collection_is_a_user_error(notes, planted):
    from assistant.errors import NotesError

    with pytest.raises(NotesError, match="no collection named 'nope'"):
        notes.search("x", collection="nope")


def test_fusion_prefers_agreement_and_keeps_ranks():
    from assistant.notes.retriever import fuse

    fused = fuse([(1, 9.0), (2, 8.0), (3, 7.0)], [(3, 0.9), (1, 0.8), (4, 0.7)])
    assert [f[0] for f in fused] == [1, 3, 2, 4]
    assert fused[0][2:] == (1, 2) and fused[0][1] == pytest.approx(0.75)
    assert next(f for f in fused if f[0] == 4)[2:] == (None, 3)
    assert fuse([(5, 1.0)], [])[0] == (5, 0.5, 1, None)  # a lone hit is not scaled to 0
    assert fuse([], []) == []


def test_common_words_are_left_out_of_keyword_queries(notes, folder, monkeypatch):
    """A word found in most passages would make BM25 score nearly the whole
    index; it is dropped from the query, and the rarest word always stays."""
    import assistant.notes.repository as repository

    monkeypatch.setattr(repository, "MIN_PASSAGES_FOR_PRUNING", 0)
    for i in range(12):
        write(folder, f"day{i}.md", f"# Day {i}\n\nThe weather was fine on day {i}.\n")
    write(folder, "kiln.md", "# Kiln\n\nThe weather decides when the kiln is fired.\n")
    notes.add_collection(folder, "days")
    notes.sync()
    repo = notes.repo
    assert repo._informative_groups([("weather",), ("kiln",)]) == [("kiln",)]
    assert repo._informative_groups([("weather",)]) == [("weather",)]  # a lone word stays
    assert repo._informative_groups([("weather",), ("fine",)]) in ([("weather",)], [("fine",)])
    hits = repo.keyword_search("weather kiln", 5)
    assert len(hits) == 1  # only the passage with the rare word is scored

    # words that are each rare enough but together match too many passages:
    # the most common go first, until the rest fit the budget
    monkeypatch.setattr(repository, "COMMON_TERM_SHARE", 1.0)
    monkeypatch.setattr(repository, "MAX_MATCHED_PASSAGES", 3)
    assert repo._informative_groups([("weather",), ("kiln",), ("fine",)]) == [
        ("kiln",)
    ]  # 13 + 1 + 12
    monkeypatch.setattr(repository, "MAX_MATCHED_PASSAGES", 13)
    assert repo._informative_groups([("fine",), ("kiln",)]) == [("fine",), ("kiln",)]  # 12 + 1 fit
    assert repo._informative_groups([("weather",), ("fine",)]) == [("fine",)]  # 13 + 12 do not
