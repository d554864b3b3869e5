"""Structure-aware chunks with line ranges, headings and the window limit."""

from __future__ import annotations

from assistant.notes.chunking import Chunker
from assistant.notes.loaders import Document, load_document


def _chunker(embedder, max_tokens=254):
    return Chunker(embedder.count_tokens, max_tokens=max_tokens, overlap_tokens=32)


def test_markdown_headings_and_lines(embedder):
    text = (
        "# Top\n\nIntro line.\n\n## Sub\n\nFirst para.\n\n"
        "Second para\ncontinues.\n\n# Next\n\nEnd.\n"
    )
    chunks = _chunker(embedder).chunk(Document("markdown", text.split("\n")))
    assert [(c.heading, c.start_line, c.end_line) for c in chunks] == [
        ("Top", 3, 3),
        ("Top > Sub", 7, 10),
        ("Next", 14, 14),
    ]


def test_long_text_is_cut_to_the_window_with_overlap(embedder):
    sentences = [
        f"Sentence number {i} describes a distinct made up fact about item {i}." for i in range(120)
    ]
    doc = Document("text", ["Title", "", " ".join(sentences)])
    chunks = _chunker(embedder, 120).chunk(doc)
    assert len(chunks) > 3
    for c in chunks:
        assert c.heading == "Title"
        assert embedder.count_tokens([c.embedding_text()])[0] <= 120 + 2
        assert (c.start_line, c.end_line) == (3, 3)
    # consecutive pieces share their boundary sentence
    assert chunks[0].text.split(". ")[-1].rstrip(".") in chunks[1].text
    one_giant_word = Document("text", ["x" * 5000])
    assert all(c.token_count <= 120 for c in _chunker(embedder, 120).chunk(one_giant_word))


def test_org_rst_and_html(embedder):
    org = "* Alpha\nalpha text\n** Beta\nbeta text\n"
    chunks = _chunker(embedder).chunk(Document("org", org.split("\n")))
    assert [(c.heading, c.start_line) for c in chunks] == [("Alpha", 2), ("Alpha > Beta", 4)]
    rst = "Title\n=====\n\nBody one.\n\nPart\n----\n\nBody two.\n"
    chunks = _chunker(embedder).chunk(Document("rst", rst.split("\n")))
    assert [(c.heading, c.start_line) for c in chunks] == [("Title", 4), ("Title > Part", 9)]
    html = (
        b"<html><head><title>x</title><script>var a=1;</script></head>\n"
        b"<body>\n<p>Hello\nthere</p>\n</body></html>"
    )
    doc = load_document(None, "html", html)  # type: ignore[arg-type]
    chunks = _chunker(embedder).chunk(doc)
    assert len(chunks) == 1 and chunks[0].text == "Hello\nthere"
    assert (chunks[0].start_line, chunks[0].end_line) == (3, 4)
    assert "var a" not in chunks[0].text


def test_sample_notes_all_load(embedder):
    from assistant.notes.loaders import kind_for
    from assistant.notes.service import sample_notes_folder

    folder = sample_notes_folder()
    kinds = set()
    for path in folder.iterdir():
        kind = kind_for(path)
        assert kind is not None, path.name
        chunks = _chunker(embedder).chunk(load_document(path, kind, path.read_bytes()))
        assert chunks, path.name
        kinds.add(kind)
    assert {"markdown", "text", "pdf", "docx", "code", "org"} <= kinds
