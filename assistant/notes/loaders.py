"""Read a file of a notes folder into lines of plain text, or say why not.

Every failure is a ``Skipped`` with a short reason for ``notes status``; a bad
file never stops a sync. Line numbers always refer to something the user can
open: the source lines for text, Markdown, code and HTML (tags are blanked in
place, so line N of the result is line N of the file); for documents without
lines (PDF, DOCX, ODT, EPUB, PowerPoint, Excel, e-mail) the extracted text's
lines, with a page per line where the format has one: the PDF page, the
slide number, the spreadsheet row (the sheet is the heading).

Office, OpenDocument and EPUB files are zip archives: their unpacked size is
checked from the archive's directory before any library parses them (a 1 MB
"zip bomb" once took 2.2 GB of memory to be refused). The sizes the directory
declares are binding: Python's zipfile never inflates an entry past them.
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
BINARY_KINDS = {
    ".pdf": "pdf", ".docx": "docx", ".odt": "odt", ".epub": "epub", ".pptx": "pptx",
    ".xlsx": "xlsx", ".eml": "eml", ".mbox": "mbox",
}  # fmt: skip
ZIP_KINDS = {"docx": "DOCX", "odt": "ODT", "epub": "EPUB", "pptx": "PowerPoint", "xlsx": "Excel"}
MB = 1024 * 1024
MAX_UNPACKED_BYTES = 128 * MB  # all entries of an archive together
MAX_MARKUP_BYTES = 24 * MB  # its XML and HTML entries, which parsers expand in memory
MAX_ENTRIES = 20_000
MARKUP_SUFFIXES = (".xml", ".rels", ".html", ".xhtml", ".htm", ".opf", ".ncx")
MAX_SHEET_ROWS = 200_000  # rows read from one spreadsheet, all sheets together
# Folders that hold tools' state rather than notes; never walked.
IGNORED_DIRS = {"node_modules", "__pycache__", "venv", "site-packages"}


class Skipped(Exception):
    """The file is not indexed; ``str(exc)`` is the reason shown to the user."""


@dataclass
class Document:
    kind: str  # markdown, text, rst, org, code, html, pdf (what the chunker sees)
    lines: list[str]
    pages: list[int] | None = None  # page (PDF), slide (pptx) or row (xlsx) of each line
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
    if kind in ZIP_KINDS:
        check_archive(data, ZIP_KINDS[kind])
    if kind == "pdf":
        doc = _load_pdf(data)
    elif kind in _LOADERS:
        doc = _LOADERS[kind](data)
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


def check_archive(data: bytes, what: str) -> None:
    """Refuse an archive that would unpack to too much, before parsing it."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise Skipped(f"broken {what} file ({type(exc).__name__})") from None
    if len(entries) > MAX_ENTRIES:
        raise Skipped(f"{what} file with {len(entries)} parts, over the {MAX_ENTRIES} limit")
    total = sum(e.file_size for e in entries)
    markup = sum(e.file_size for e in entries if e.filename.lower().endswith(MARKUP_SUFFIXES))
    if total > MAX_UNPACKED_BYTES or markup > MAX_MARKUP_BYTES:
        size, limit = (
            (markup, MAX_MARKUP_BYTES) if markup > MAX_MARKUP_BYTES else (total, MAX_UNPACKED_BYTES)
        )
        raise Skipped(
            f"{what} file unpacks to {size // MB} MB, over the {limit // MB} MB limit "
            "(perhaps a zip bomb)"
        )


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


# ------------------------------------------------------------ more formats
def _block_lines(blocks: list[tuple[int, str]]) -> list[str]:
    """(heading level or 0, text) blocks as Markdown-like lines for the chunker."""
    lines: list[str] = []
    for level, text in blocks:
        text = " ".join(text.split())
        if not text:
            continue
        if level:
            lines += ["#" * min(level, 6) + " " + text, ""]
        else:
            lines += [_escape_markdown(text), ""]
    return lines


def _escape_markdown(text: str) -> str:
    """A paragraph that would read as Markdown structure (a heading, a rule, a
    list or quote marker at its start) is kept as plain text."""
    return "\\" + text if text[:1] in "#>" else text


def _load_odt(data: bytes) -> Document:
    """OpenDocument text: headings (with their outline level) and paragraphs
    in document order, tables cell by cell."""
    try:
        from odf import teletype
        from odf.namespaces import TEXTNS
        from odf.opendocument import load

        document = load(io.BytesIO(data))
        blocks: list[tuple[int, str]] = []

        def walk(node: object) -> None:
            for child in getattr(node, "childNodes", []):
                qname = getattr(child, "qname", None)
                if qname == (TEXTNS, "h"):
                    level = child.getAttrNS(TEXTNS, "outline-level") or "1"
                    blocks.append((int(level) if str(level).isdigit() else 1,
                                   teletype.extractText(child)))  # fmt: skip
                elif qname == (TEXTNS, "p"):
                    blocks.append((0, teletype.extractText(child)))
                else:
                    walk(child)

        walk(document.text)
    except Skipped:
        raise
    except Exception as exc:  # odfpy, zipfile and XML errors alike
        raise Skipped(f"broken ODT file ({type(exc).__name__})") from None
    return Document("markdown", _block_lines(blocks), meta={"source": "odt"})


class _HtmlBlocks:
    """Headings and paragraphs of an HTML page (script, style and head left out)."""

    BLOCK = {"p", "div", "li", "blockquote", "td", "th", "dd", "dt", "pre", "section", "br"}
    HIDDEN = {"script", "style", "head", "title", "noscript", "template"}

    @classmethod
    def parse(cls, html: str) -> list[tuple[int, str]]:
        from html.parser import HTMLParser

        blocks: list[tuple[int, str]] = []
        current: list[str] = []
        state = {"level": 0, "hidden": 0}

        def flush() -> None:
            text = " ".join("".join(current).split())
            if text:
                blocks.append((state["level"], text))
            current.clear()
            state["level"] = 0

        class Parser(HTMLParser):
            def handle_starttag(self, tag: str, attrs: object) -> None:
                if tag in cls.HIDDEN:
                    state["hidden"] += 1
                elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
                    flush()
                    state["level"] = int(tag[1])
                elif tag in cls.BLOCK:
                    flush()

            def handle_endtag(self, tag: str) -> None:
                if tag in cls.HIDDEN and state["hidden"]:
                    state["hidden"] -= 1
                elif (len(tag) == 2 and tag[0] == "h") or tag in cls.BLOCK:
                    flush()

            def handle_data(self, data: str) -> None:
                if not state["hidden"]:
                    current.append(data)

        parser = Parser(convert_charrefs=True)
        parser.feed(html)
        parser.close()
        flush()
        return blocks


def _load_epub(data: bytes) -> Document:
    """The book's documents in reading (spine) order; chapter headings stay headings."""
    try:
        import warnings

        from ebooklib import ITEM_DOCUMENT, epub

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = epub.read_epub(io.BytesIO(data), {"ignore_ncx": True})
        order = [book.get_item_with_id(item_id) for item_id, _ in book.spine]
        documents = [i for i in order if i is not None and i.get_type() == ITEM_DOCUMENT]
        blocks: list[tuple[int, str]] = []
        for item in documents:
            blocks += _HtmlBlocks.parse(item.get_content().decode("utf-8", "replace"))
    except Skipped:
        raise
    except Exception as exc:  # ebooklib raises many kinds on malformed books
        raise Skipped(f"broken EPUB file ({type(exc).__name__})") from None
    return Document("markdown", _block_lines(blocks), meta={"source": "epub"})


def _load_pptx(data: bytes) -> Document:
    """One section per slide (its title, or "Slide N"), its text, tables and
    speaker notes; the slide number is each line's page."""
    try:
        from pptx import Presentation

        deck = Presentation(io.BytesIO(data))
        lines: list[str] = []
        pages: list[int] = []
        for number, slide in enumerate(deck.slides, start=1):
            title_shape = slide.shapes.title
            title = " ".join(
                (title_shape.text_frame.text if title_shape is not None else "").split()
            )
            texts: list[str] = []
            for shape in slide.shapes:
                if shape is title_shape:
                    continue
                if shape.has_text_frame:
                    texts += [p.text for p in shape.text_frame.paragraphs]
                if getattr(shape, "has_table", False) and shape.has_table:
                    for row in shape.table.rows:
                        texts.append(" | ".join(" ".join(c.text.split()) for c in row.cells))
            if slide.has_notes_slide:
                notes = slide.notes_slide.notes_text_frame
                if notes is not None and notes.text.strip():
                    texts += ["Notes: " + p.text for p in notes.paragraphs if p.text.strip()]
            heading = f"Slide {number}" + (f": {title}" if title else "")
            block = [f"# {heading}", ""] + [
                x for t in texts if (x := _escape_markdown(" ".join(t.split())))
            ]
            block.append("")
            lines += block
            pages += [number] * len(block)
    except Exception as exc:  # python-pptx, zipfile and XML errors alike
        raise Skipped(f"broken PowerPoint file ({type(exc).__name__})") from None
    return Document("markdown", lines, pages, meta={"source": "pptx"})


def _load_xlsx(data: bytes) -> Document:
    """One section per sheet; each non-empty row is a line ``row N: a | b | c``
    whose page is its row number."""
    try:
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        lines: list[str] = []
        pages: list[int] = []
        rows_read = 0
        for sheet in book.worksheets:
            lines += [f"# {' '.join(str(sheet.title).split())}", ""]
            pages += [1, 1]
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                rows_read += 1
                if rows_read > MAX_SHEET_ROWS:
                    raise Skipped(f"Excel file with more than {MAX_SHEET_ROWS} rows")
                cells = ["" if v is None else " ".join(str(v).split()) for v in row]
                while cells and not cells[-1]:
                    cells.pop()
                if any(cells):
                    lines.append(f"row {number}: " + " | ".join(cells))
                    pages.append(number)
            lines.append("")
            pages.append(pages[-1])
        book.close()
    except Skipped:
        raise
    except Exception as exc:  # openpyxl, zipfile and XML errors alike
        raise Skipped(f"broken Excel file ({type(exc).__name__})") from None
    return Document("markdown", lines, pages, meta={"source": "xlsx"})


def _message_lines(message: object) -> list[str]:
    """A heading with the subject, then sender, recipients, date, the text
    body (plain text preferred, HTML reduced to its text) and attachment names."""
    from email.message import EmailMessage

    assert isinstance(message, EmailMessage)
    subject = " ".join(str(message.get("subject") or "(no subject)").split())
    lines = [f"# {subject}", ""]
    for header in ("from", "to", "cc", "date"):
        value = message.get(header)
        if value:
            lines.append(f"{header.capitalize()}: {' '.join(str(value).split())}")
    lines.append("")
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = body.get_content()
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        if body.get_content_subtype() == "html":
            lines += _block_lines(_HtmlBlocks.parse(content))
        else:
            text = content.replace("\r\n", "\n")
            lines += [_escape_markdown(line) if line.strip() else "" for line in text.split("\n")]
    names = [a.get_filename() for a in message.iter_attachments() if a.get_filename()]
    if names:
        lines += ["", "Attachments: " + ", ".join(str(n) for n in names)]
    return lines + [""]


def _parse_message(raw: bytes) -> object:
    from email import policy
    from email.parser import BytesParser

    return BytesParser(policy=policy.default).parsebytes(raw)


def _load_eml(data: bytes) -> Document:
    try:
        message = _parse_message(data)
        if not any(message.get(h) for h in ("from", "subject", "date", "to")):  # type: ignore[attr-defined]
            raise Skipped("not an e-mail message (no From, To, Subject or Date)")
        lines = _message_lines(message)
    except Skipped:
        raise
    except Exception as exc:  # the email package raises several kinds
        raise Skipped(f"broken e-mail file ({type(exc).__name__})") from None
    return Document("markdown", lines, meta={"source": "eml"})


def _load_mbox(data: bytes) -> Document:
    """Each message of the mailbox as its own section, in file order."""
    import re

    if not data.startswith(b"From "):
        raise Skipped("not an mbox file (it must start with a 'From ' line)")
    lines: list[str] = []
    try:
        for raw in re.split(rb"(?m)^From .*\r?\n", data)[1:]:
            raw = re.sub(rb"(?m)^>(>*From )", rb"\1", raw)
            lines += _message_lines(_parse_message(raw))
    except Exception as exc:  # the email package raises several kinds
        raise Skipped(f"broken mbox file ({type(exc).__name__})") from None
    return Document("markdown", lines, meta={"source": "mbox"})


_LOADERS = {
    "docx": _load_docx,
    "odt": _load_odt,
    "epub": _load_epub,
    "pptx": _load_pptx,
    "xlsx": _load_xlsx,
    "eml": _load_eml,
    "mbox": _load_mbox,
}
