"""Read a file of a notes folder into lines of plain text, or say why not.

Every failure is a ``Skipped`` with a short reason for ``notes status``; a bad
file never stops a sync. Line numbers always refer to something the user can
open: the source lines for text, Markdown, code and HTML (tags are blanked in
place, so line N of the result is line N of the file); for PDF and DOCX, which
have no lines, the extracted text's lines, with the PDF page kept per line.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024

MARKDOWN = {".md", ".markdown", ".mdown", ".mkd"}
PLAIN = {".txt", ".text", ".log", ".csv", ".tsv", ".tex", ".adoc"}
RST = {".rst"}
ORG = {".org"}
HTML = {".html", ".htm", ".xhtml"}
CODE = {
    ".py", ".pyi", ".js", ".jsx", ".ts", ".tsx", ".go", ".rs", ".c", ".h", ".cc", ".cpp",
    ".hpp", ".java", ".kt", ".swift", ".rb", ".php", ".cs", ".scala", ".lua", ".sh", ".bash",
    ".zsh", ".fish", ".sql", ".r", ".jl", ".hs", ".ml", ".ex", ".exs", ".clj", ".el", ".vim",
    ".toml", ".yaml", ".yml", ".json", ".ini", ".cfg", ".css", ".scss", ".xml", ".mk",
}  # fmt: skip
BINARY_KINDS = {".pdf": "pdf", ".docx": "docx"}
# Folders that hold tools' state rather than notes; never walked.
IGNORED_DIRS = {"node_modules", "__pycache__", "venv", "site-packages"}


class Skipped(Exception):
    """The file is not indexed; ``str(exc)`` is the reason shown to the user."""


@dataclass
class Document:
    kind: str  # markdown, text, rst, org, code, html, pdf, docx
    lines: list[str]
    pages: list[int] | None = None  # page number of each line (PDF only)
    meta: dict[str, str] = field(default_factory=dict)


def kind_for(path: Path) -> str | None:
    """The loader kind for a file name, or None when we do not read that type."""
    suffix = path.suffix.lower()
    if suffix in MARKDOWN:
        return "markdown"
    if suffix in PLAIN or (suffix == "" and not path.name.startswith(".")):
        return "text"
    if suffix in RST:
        return "rst"
    if suffix in ORG:
        return "org"
    if suffix in HTML:
        return "html"
    if suffix in CODE or path.name in {"Makefile", "Dockerfile"}:
        return "code"
    return BINARY_KINDS.get(suffix)


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """Read a regular file without following a final symlink and without
    blocking on a FIFO that appeared since the walk."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except PermissionError:
        raise Skipped("cannot be read (permission denied)") from None
    except OSError as exc:
        raise Skipped(f"cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Skipped("not a regular file")
        if st.st_size > max_bytes:
            raise Skipped(f"larger than the {max_bytes // (1024 * 1024)} MB limit")
        chunks = []
        remaining = max_bytes + 1
        while remaining > 0:
            block = os.read(fd, min(1 << 20, remaining))
            if not block:
                break
            chunks.append(block)
            remaining -= len(block)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise Skipped(f"larger than the {max_bytes // (1024 * 1024)} MB limit")
        return data
    except OSError as exc:
        raise Skipped(f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def decode_text(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise Skipped("binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Skipped(f"not valid UTF-8 text (bad byte at offset {exc.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_document(path: Path, kind: str, data: bytes) -> Document:
    """Turn the bytes of a file into a ``Document``; raises ``Skipped``."""
    if not data.strip():
        raise Skipped("empty file")
    if kind == "pdf":
        doc = _load_pdf(data)
    elif kind == "docx":
        doc = _load_docx(data)
    else:
        text = decode_text(data)
        if kind == "html":
            doc = Document("html", _html_lines(text))
        else:
            doc = Document(kind, text.split("\n"))
    if not any(line.strip() for line in doc.lines):
        raise Skipped("no text found")
    return doc


def _load_pdf(data: bytes) -> Document:
    if not data.startswith(b"%PDF"):
        raise Skipped("not a PDF file (bad header)")
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # broken files are reported, not logged
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = bool(reader.decrypt(""))
            except Exception:
                ok = False
            if not ok:
                raise Skipped("encrypted PDF (needs a password)")
        lines: list[str] = []
        pages: list[int] = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").replace("\r\n", "\n").replace("\x00", "")
            for line in text.split("\n"):
                lines.append(line)
                pages.append(number)
            lines.append("")  # a page break ends a paragraph
            pages.append(number)
    except Skipped:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise Skipped(f"broken PDF ({type(exc).__name__})") from None
    except Exception as exc:  # pypdf raises many kinds on malformed input
        raise Skipped(f"broken PDF ({type(exc).__name__})") from None
    return Document("pdf", lines, pages)


def _load_docx(data: bytes) -> Document:
    """DOCX paragraphs as Markdown-like lines: headings become '#' lines so the
    Markdown chunker sees the document's structure."""
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # zipfile, lxml and python-docx errors alike
        raise Skipped(f"broken DOCX ({type(exc).__name__})") from None
    lines: list[str] = []
    for para in document.paragraphs:
        text = " ".join(para.text.split())
        style = (para.style.name if para.style is not None else "") or ""
        if style.startswith("Heading") and text:
            level = style.removeprefix("Heading").strip()
            depth = int(level) if level.isdigit() else 1
            lines += ["#" * min(depth, 6) + " " + text, ""]
        elif style == "Title" and text:
            lines += ["# " + text, ""]
        elif text:
            lines += [text, ""]
    for table in document.tables:
        for row in table.rows:
            cells = [" ".join(c.text.split()) for c in row.cells]
            if any(cells):
                lines.append(" | ".join(cells))
        lines.append("")
    return Document("markdown", lines, meta={"source": "docx"})


def _html_lines(source: str) -> list[str]:
    """Visible text of an HTML page, kept on the source line it came from."""
    from html.parser import HTMLParser

    n_lines = source.count("\n") + 1
    lines: list[list[str]] = [[] for _ in range(n_lines)]
    hidden = {"script", "style", "noscript", "template", "head"}

    class Collector(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.skip_depth = 0

        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag in hidden:
                self.skip_depth += 1

        def handle_endtag(self, tag: str) -> None:
            if tag in hidden and self.skip_depth:
                self.skip_depth -= 1

        def handle_data(self, data: str) -> None:
            if self.skip_depth:
                return
            row = self.getpos()[0] - 1
            for offset, piece in enumerate(data.split("\n")):
                if piece.strip() and row + offset < n_lines:
                    lines[row + offset].append(piece.strip())

    parser = Collector()
    parser.feed(source)
    parser.close()
    return [" ".join(parts) for parts in lines]
