"""Keyword search in every script, fusion that does not hurt, and the keyword
index rebuilt when its tokenizer changes (with the real bundled embedder)."""

from __future__ import annotations

from tests.notes.conftest import write

BACKUP_ZH = "# 备份\n\n我们的备份计划是每周日凌晨三点把照片同步到移动硬盘。\n"
GARDEN_ZH = "# 花园\n\n春天要给番茄搭架子，夏天每天早上浇水。\n"
BACKUP_EN = "# Backups\n\nThe backups run every Sunday at three in the morning.\n"
SAUVEGARDE_FR = (
    "# Sauvegardes\n\nLes sauvegardes des photos sont lancées chaque dimanche et elles "
    "sont copiées sur le disque de la maison.\n"
)


def test_language_detection():
    from assistant.language import detect

    assert detect("我们的备份计划是每周日凌晨三点把照片同步到移动硬盘") == "zh"
    assert detect("東京で写真をバックアップします") == "ja"
    assert detect("The backups run every Sunday and they are kept for a month.") == "en"
    assert detect("Les sauvegardes sont lancées chaque dimanche dans la maison.") == "fr"
    assert detect("backup schedule") == "und"  # too short to tell: no guess
    assert detect("12345 !!!") == "und"


def test_chinese_words_are_segmented_and_queries_cut_the_same_way():
    from assistant.notes.keywords import index_terms, query_groups

    terms = index_terms("我们的备份计划是每周日凌晨三点把照片同步到移动硬盘", "zh").split()
    assert {"备份", "照片", "移动硬盘", "移动", "硬盘"} <= set(terms)
    assert query_groups("照片什么时候备份") == [("照片",), ("备份",)]  # 什么时候 is a stop word
    assert query_groups("移动硬盘") == [("移动硬盘",)]
    # digits and Latin words next to Chinese characters are words of their own
    assert query_groups("1970年前克什米尔马鹿")[0] == ("1970",)
    # English words keep their raw form and their stem
    assert ("backups", "backup") in query_groups("When do the backups run?")


def test_chinese_note_found_by_its_words(notes, folder):
    """The issue's case: not found by 备份, 移动硬盘 or 照片什么时候备份 before."""
    write(folder, "backup.md", BACKUP_ZH)
    write(folder, "garden.md", GARDEN_ZH)
    write(folder, "en.md", BACKUP_EN)
    notes.add_collection(folder)
    notes.sync()
    for query in ("备份", "移动硬盘", "照片什么时候备份"):
        hits = notes.search(query, k=3, mode="keyword")
        assert hits and hits[0].path == "backup.md", query
        assert hits[0].lang == "zh"
    hit = notes.search("照片什么时候备份", k=1)[0]
    assert hit.path == "backup.md"
    spans = [hit.snippet[a:b] for a, b in hit.highlights]
    assert "照片" in spans and "备份" in spans


def test_stemming_follows_the_passage_language(notes, folder):
    write(folder, "fr.md", SAUVEGARDE_FR)
    write(folder, "en.md", BACKUP_EN)
    notes.add_collection(folder)
    notes.sync()
    assert notes.search("sauvegarde lancée", k=1, mode="keyword")[0].path == "fr.md"
    assert notes.search("backup running", k=1, mode="keyword")[0].path == "en.md"
    langs = {h.path: h.lang for h in notes.search("sauvegardes backups", k=5, mode="keyword")}
    assert langs == {"fr.md": "fr", "en.md": "en"}


def test_vector_side_left_out_where_the_model_does_not_know_the_language(notes, folder):
    """The bundled model declares English only: a Chinese query is answered by
    keyword search alone, and Chinese passages bring no vector candidates to
    an English query."""
    assert notes.embedding_languages() == frozenset({"en"})
    write(folder, "backup.md", BACKUP_ZH)
    write(folder, "garden.md", GARDEN_ZH)
    write(folder, "en.md", BACKUP_EN)
    notes.add_collection(folder)
    notes.sync()
    hybrid = notes.search("照片什么时候备份", k=5)
    keyword = notes.search("照片什么时候备份", k=5, mode="keyword")
    assert [h.chunk_id for h in hybrid] == [h.chunk_id for h in keyword]
    assert all(h.vector_rank is None for h in hybrid)

    english = notes.search("when do the backups run", k=5)
    assert english[0].path == "en.md"
    assert all(h.vector_rank is None for h in english if h.lang == "zh")

    notes.retriever.language_gate = False  # the old fusion: vectors count everywhere
    ungated = notes.search("照片什么时候备份", k=5)
    assert any(h.vector_rank is not None for h in ungated)


def test_gated_query_falls_back_to_vectors_when_keywords_find_nothing(notes, folder):
    write(folder, "garden.md", GARDEN_ZH)
    notes.add_collection(folder)
    notes.sync()
    hits = notes.search("冰箱", k=3)  # no passage has the word
    assert hits and hits[0].vector_rank == 1 and hits[0].keyword_rank is None


def test_tokenizer_change_rebuilds_keywords_and_keeps_vectors(notes, folder):
    from assistant.notes.repository import TOKENIZER_KEY

    write(folder, "backup.md", BACKUP_ZH)
    write(folder, "en.md", BACKUP_EN)
    notes.add_collection(folder)
    notes.sync()
    vectors_before = sorted(notes.vector_index().ids().tolist())
    notes.repo.set_meta(TOKENIZER_KEY, "keywords-1; an older segmenter")
    assert notes.pending_work() == "the keyword index needs rebuilding"
    seen = []
    report = notes.sync(progress=seen.append)
    notices = [p.notice for p in seen if p.notice]
    assert notices and notices[0].startswith("Rebuilding the keyword index of 2 passages")
    first_notice = next(i for i, p in enumerate(seen) if p.notice)
    assert all(p.phase != "keywords" for p in seen[:first_notice])  # said before the work
    assert any(p.phase == "keywords" and p.chunks_done == 2 for p in seen)
    assert report.chunks_embedded == 0
    assert sorted(notes.vector_index().ids().tolist()) == vectors_before
    assert notes.search("移动硬盘", k=1, mode="keyword")[0].path == "backup.md"
    assert notes.pending_work() is None
