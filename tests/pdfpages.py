"""PDF pages as PNG images and as text, through pypdfium2 (a pip package: no poppler needed)."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium


def pdf_pages(pdf: bytes, folder: Path, dpi: int = 50) -> list[Path]:
    """Every page of ``pdf`` rendered at ``dpi`` to ``folder/page-N.png``, in order."""
    document = pdfium.PdfDocument(pdf)
    paths = []
    try:
        for n, page in enumerate(document, start=1):
            path = folder / f"page-{n:02d}.png"
            page.render(scale=dpi / 72).to_pil().save(path)
            paths.append(path)
    finally:
        document.close()
    return paths


def pdf_text(pdf: bytes) -> str:
    """The text of every page of ``pdf``, pages separated by a form feed."""
    document = pdfium.PdfDocument(pdf)
    try:
        return "\f".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()
