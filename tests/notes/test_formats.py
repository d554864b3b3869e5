"""More formats through kept libraries: OpenDocument text, EPUB, PowerPoint
(slide numbers), Excel (sheet and row), e-mail and mbox (sender, subject,
date); each broken one is skipped with its reason. Files are made here with
the same libraries (and the standard library for mail)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tests.notes.conftest import write


def make_odt(heading: str, paragraphs: list[str]) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    doc = OpenDocumentText()
    doc.text.addElement(H(outlinelevel=1, text=heading))
    for p in paragraphs:
        doc.text.addElement(P(text=p))
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def make_epub(chapters: list[tuple[str, str]]) -> bytes:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title("Field notes")
    book.set_language("en")
    items = []
    for n, (title, body) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=title, file_name=f"ch{n}.xhtml", lang="en")
        item.content = f"<html><body><h1>{title}</h1><p>{body}</p></body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    out = io.BytesIO()
    epub.write_epub(out, book)
    return out.getvalue()


def make_pptx(slides: list[tuple[str, str, str]]) -> bytes:
    """(title, body, speaker notes) per slide."""
    from pptx import Presentation

    deck = Presentation()
    for title, body, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_eml(sender: str, subject: str, body: str, html: bool = False) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "me@example.org"
    msg["Subject"] = subject
    msg["Date"] = "Tue, 03 Mar 2026 09:15:00 +0000"
    if html:  # an HTML-only message: its text is read from the markup
        msg.set_content(f"<html><body><p>{body}</p></body></html>", subtype="html")
    else:
        msg.set_content(body)
    return bytes(msg)


def test_new_formats_are_read_and_found(notes, folder):
    (folder / "report.odt").write_bytes(
        make_odt("Harbour survey", ["The harbour wall needs repointing before winter storms."])
    )
    (folder / "book.epub").write_bytes(
        make_epub(
            [("Moths", "Hawk moths visit the honeysuckle at dusk."),
             ("Owls", "The barn owl hunts along the river meadow.")]
        )
    )  # fmt: skip
    (folder / "deck.pptx").write_bytes(
        make_pptx(
            [("Roadmap", "Ship the offline mode in spring.", ""),
             ("Budget", "The lighthouse restoration costs forty thousand.", "Ask the council")]
        )
    )  # fmt: skip
    (folder / "sheet.xlsx").write_bytes(
        make_xlsx(
            {"Plants": [["name", "water"], ["fern", "weekly"], ["cactus", "monthly"]],
             "Tools": [["item", "place"], [None, None], ["trowel", "blue shed"]]}
        )
    )  # fmt: skip
    (folder / "mail.eml").write_bytes(
        make_eml("Ana <ana@example.org>", "Boiler service", "The engineer comes on Friday.")
    )
    box = (
        b"From ana@example.org Tue Mar  3 09:15:00 2026\n"
        + make_eml("Ana <ana@example.org>", "Kayak trip", "Meet at the slipway at seven.")
        + b"\nFrom bo@example.org Wed Mar  4 10:00:00 2026\n"
        + make_eml("Bo <bo@example.org>", "Choir", "<b>Rehearsal</b> moved to the crypt.", True)
    )
    (folder / "archive.mbox").write_bytes(box)
    notes.add_collection(folder)
    report = notes.sync()
    assert report.files_skipped == 0, notes.repo.skipped_files()
    assert report.files_added == 6

    def top(query: str):
        return notes.search(query, k=1, mode="keyword")[0]

    assert top("harbour wall repointing").path == "report.odt"
    owl = top("barn owl river meadow")
    assert owl.path == "book.epub" and owl.heading == "Owls"
    slide = top("lighthouse restoration costs")
    assert slide.path == "deck.pptx" and slide.page == 2 and slide.place == "slide 2"
    assert slide.heading == "Slide 2: Budget"
    assert top("council").place == "slide 2"  # speaker notes are read too
    row = top("trowel shed")
    assert row.path == "sheet.xlsx" and row.heading == "Tools" and row.place == "row 1"
    assert "row 3: trowel | blue shed" in row.text
    mail = top("engineer Friday")
    assert mail.path == "mail.eml" and mail.heading == "Boiler service"
    assert "From: Ana <ana@example.org>" in mail.text and "Date: Tue, 03 Mar 2026" in mail.text
    choir = top("rehearsal crypt")
    assert choir.path == "archive.mbox" and choir.heading == "Choir"
    assert "From: Bo <bo@example.org>" in choir.text
    assert top("kayak slipway").heading == "Kayak trip"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("bad.odt", b"PK\x03\x04 truncated", "broken ODT file"),
        ("bad.epub", b"not a zip at all", "broken EPUB file"),
        ("bad.pptx", b"PK\x05\x06" + b"\x00" * 18, "broken PowerPoint file"),
        ("bad.xlsx", b"\x00\x01binary", "broken Excel file"),
        ("bad.mbox", b"Hello, not a mailbox", "not an mbox file"),
        ("bad.eml", b"just some words\nwithout headers\n", "not an e-mail message"),
    ],
)
def test_broken_files_are_skipped_with_a_reason(notes, folder, name, content, reason):
    write(folder, "good.md", "# Good\n\nThe marmalade recipe uses Seville oranges.\n")
    (folder / name).write_bytes(content)
    notes.add_collection(folder)
    report = notes.sync()
    assert report.files_added == 1 and report.files_skipped == 1
    (skipped,) = notes.repo.skipped_files()
    assert skipped.path == name and skipped.reason.startswith(reason), skipped.reason


def zip_bomb(path: Path, inflated_mb: int) -> None:
    """A .docx-shaped zip whose document.xml inflates to ``inflated_mb`` MB of
    valid WordprocessingML (a few hundred kB on disk)."""
    paragraph = b"<w:p><w:r><w:t>boom</w:t></w:r></w:p>" * 1000
    head = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="xml" ContentType="application/xml"/>'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Override PartName="/word/document.xml" ContentType="'
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
            '"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            "openxmlformats.org/officeDocument/2006/relationships/officeDocument"
            '" Target="word/document.xml"/></Relationships>',
        )
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(head)
            for _ in range(inflated_mb * 1024 * 1024 // len(paragraph)):
                member.write(paragraph)
            member.write(b"</w:body></w:document>")


def test_zip_bomb_is_refused_before_parsing_with_little_memory(tmp_path):
    """Issue 13 #10: a small .docx that inflates to 400 MB was parsed (2.2 GB
    of memory for a 1 MB bomb). Its size is now checked from the zip
    directory first: refused, and the process's peak stays under 200 MB."""
    import subprocess
    import sys

    bomb = tmp_path / "bomb.docx"
    zip_bomb(bomb, 400)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from assistant.notes.loaders import Skipped, load_document, read_bytes\n"
        "path = Path(sys.argv[1])\n"
        "try:\n"
        "    load_document(path, 'docx', read_bytes(path, 20 * 1024 * 1024))\n"
        "    print('parsed')\n"
        "except Skipped as why:\n"
        "    print('skipped:', why)\n"
        # VmHWM is this program's own peak (ru_maxrss would carry pytest's over exec)
        "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(int(peak.split()[1]) // 1024)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=300
    )
    lines = proc.stdout.strip().splitlines()
    assert lines and lines[0].startswith("skipped: DOCX file unpacks to 399 MB"), proc.stdout
    assert int(lines[-1]) < 200, f"peak {lines[-1]} MB"
