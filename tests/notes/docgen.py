"""Build small PDF and DOCX files for the sample notes and the tests.

The PDF writer is a few lines of hand-made PDF (one Helvetica text object per
page) so that no PDF-writing dependency is needed; pypdf reads it back. Run
``python -m tests.notes.docgen`` to regenerate ``data/field-guide.pdf`` and
``data/meeting-notes.docx``.
"""

from __future__ import annotations

import io
from pathlib import Path


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]]) -> bytes:
    """A valid PDF with one page per list of lines."""
    objects: list[bytes] = []
    n_pages = len(pages)
    font_id = 3 + 2 * n_pages
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, lines in enumerate(pages):
        content_id = 4 + 2 * i
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
                f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>"
            ).encode()
        )
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            ops.append(f"({_pdf_escape(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def make_encrypted_pdf(lines: list[str], password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf([lines]))).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def make_docx(blocks: list[tuple[str, str]]) -> bytes:
    """A DOCX from (style, text) pairs; style is 'h1', 'h2' or 'p'."""
    import docx

    document = docx.Document()
    for style, text in blocks:
        if style.startswith("h"):
            document.add_heading(text, level=int(style[1:]))
        else:
            document.add_paragraph(text)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


FIELD_GUIDE = [
    [
        "Field Guide to the Allotment",
        "",
        "Soil and compost",
        "The allotment soil is heavy clay. Dig in two barrows of leaf mould every",
        "autumn and leave the clods for the frost to break over winter.",
        "The compost bays are turned every six weeks; the left bay is for fresh",
        "material and the right bay is ready to use.",
    ],
    [
        "Pests",
        "Slugs are the main problem in a wet spring. Copper tape around the raised",
        "beds worked better than beer traps in 2023. Netting keeps pigeons off the",
        "brassicas; the netting must be tight or blackbirds get caught in it.",
        "",
        "Water",
        "The standpipe by the gate is turned off from November to March.",
    ],
]

MEETING = [
    ("h1", "Quarterly planning meeting"),
    ("p", "Attendees: Priya, Tomás, Lena and Sam. Notes taken by Lena."),
    ("h2", "Decisions"),
    (
        "p",
        "The team will move the weekly release from Thursday to Tuesday so that fixes "
        "land before the weekend on-call shift starts.",
    ),
    (
        "p",
        "The staging database will be refreshed from an anonymised production snapshot "
        "on the first Monday of each month.",
    ),
    ("h2", "Action items"),
    ("p", "Tomás writes the runbook for the release checklist by 14 March."),
    ("p", "Sam asks finance about the budget for two more build machines."),
]


def write_samples(folder: Path) -> None:
    (folder / "field-guide.pdf").write_bytes(make_pdf(FIELD_GUIDE))
    (folder / "meeting-notes.docx").write_bytes(make_docx(MEETING))


if __name__ == "__main__":
    write_samples(Path(__file__).resolve().parents[2] / "data")
