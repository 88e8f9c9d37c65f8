"""The report as an A4 PDF (reportlab platypus): the same sections, in the same order, as the HTML.

Only formats the dict of :func:`model.reports.content.build_report`. Pages are numbered "page N of
M". The charts are the PNGs of the figures the HTML shows as SVG (:mod:`model.reports.figures`).

Fonts: DejaVu Sans, so that any unicode in ids, titles or answers survives. It is looked up
in ``/usr/share/fonts/truetype/dejavu/`` (Debian's fonts-dejavu-core, installed by ``.ci/run``)
and then in the copy matplotlib ships; only if neither exists does the PDF fall back to
Helvetica and Courier, whose built-in encoding shows characters outside Latin-1 as black
boxes. DejaVu Sans covers Latin, Greek, Cyrillic and common symbols, not CJK scripts (those
characters come out as blank boxes; the HTML report shows them). Output is byte-for-byte
reproducible (reportlab's invariant mode).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from model.reports import text as words
from model.reports.figures import causes_figure, figure_png, timeline_figure

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
CHART_HEIGHT = 235  # points: the chart shrinks to fit, so it mostly stays on page 1
RED, AMBER, GREEN, GREY = "#c0392b", "#e0a800", "#2e7d32", "#888888"
ORANGE = "#d35400"  # answers that pull apart


def _font_dirs() -> list[Path]:
    dirs = list(FONT_DIRS)
    try:
        import matplotlib

        dirs.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    return dirs


@lru_cache(maxsize=1)
def fonts() -> dict[str, str]:
    """Register DejaVu Sans with reportlab once; the names of the regular, bold and mono fonts."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    files = {
        "regular": "DejaVuSans.ttf",
        "bold": "DejaVuSans-Bold.ttf",
        "mono": "DejaVuSansMono.ttf",
    }
    for folder in _font_dirs():
        if all((folder / f).is_file() for f in files.values()):
            names = {}
            for role, file in files.items():
                name = f"crampnet-{Path(file).stem}"
                pdfmetrics.registerFont(TTFont(name, str(folder / file)))
                names[role] = name
            return names
    return {"regular": "Helvetica", "bold": "Helvetica-Bold", "mono": "Courier"}


def _styles() -> dict:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    f = fonts()
    base = ParagraphStyle("base", fontName=f["regular"], fontSize=9.5, leading=12.5)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10),
        "meta": ParagraphStyle(
            "meta", parent=base, fontSize=8.5, textColor=colors.HexColor("#555555")
        ),
        "title": ParagraphStyle("title", parent=base, fontName=f["bold"], fontSize=17, leading=21),
        "h2": ParagraphStyle(
            "h2", parent=base, fontName=f["bold"], fontSize=12.5, leading=16, spaceBefore=10
        ),
        "h3": ParagraphStyle("h3", parent=base, fontName=f["bold"], fontSize=10, spaceBefore=6),
        "flag": ParagraphStyle("flag", parent=base, fontName=f["bold"]),
        "muted": ParagraphStyle(
            "muted", parent=base, fontSize=8.5, textColor=colors.HexColor("#666666")
        ),
        "numhead": ParagraphStyle("numhead", parent=base, fontName=f["bold"], alignment=2),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=10.5),
        "num": ParagraphStyle("num", parent=base, fontSize=8.5, leading=10.5, alignment=2),
        "mono": ParagraphStyle("mono", parent=base, fontName=f["mono"], fontSize=7.5, leading=9.5),
    }


def _p(text: object, style) -> object:
    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text)), style)


def _boxed(flowable, colour: str, background: str):
    """A flowable in a tinted box with a thick coloured left edge (notice, red flags)."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    box = Table([[flowable]], colWidths=["100%"])
    box.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(background)),
                ("LINEBEFORE", (0, 0), (0, -1), 4, colors.HexColor(colour)),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
            ]
        )
    )
    return box


def _table(head: list[str], rows: list[list[str]], widths: list[float], numeric: set[int], s):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    def cell(i: int, text: str):
        return _p(text, s["num"] if i in numeric else s["cell"])

    data = [[_p(h, s["numhead" if i in numeric else "flag"]) for i, h in enumerate(head)]] + [
        [cell(i, v) for i, v in enumerate(row)] for row in rows
    ]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#cccccc")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _claims(claims: list[Mapping], s, *, links: bool = False) -> list:
    out = []
    for c in claims:
        extra = f" (links: {', '.join(c['links'])})" if links else ""
        out.append(_p(f"{c['id']} ({c['section']}): {c['text']}{extra}", s["small"]))
    return out


def _story(report: Mapping, width: float) -> list:
    """Every section's flowables, in the order of the HTML report, each under its heading."""
    s = _styles()
    sections = {
        "notice": lambda: _notice(report, s),
        "red_flags": lambda: _red_flags(report, s),
        "conflict": lambda: _conflict(report, s),
        "answers": lambda: _answers(report, s, width),
        "causes": lambda: _causes(report, s, width),
        "if_fixed": lambda: _if_fixed(report, s, width),
        "timeline": lambda: _timeline(report, s, width),
        "why": lambda: _why(report, s, width),
        "next_questions": lambda: _next_questions(report, s),
        "remedies": lambda: _remedies(report, s),
        "case": lambda: _case(report, s),
    }
    story = [
        _p(report["title"], s["title"]),
        _p(f"Date: {report['date']}", s["meta"]),
        _p(words.identity(report), s["meta"]),
    ]
    for name in words.shown_sections(report):
        story += [_p(words.title(name), s["h2"]), *sections[name]()]
    return story


def _notice(report: Mapping, s: dict) -> list:
    """The notice in an amber box, then the source it rests on."""
    from reportlab.platypus import Spacer

    return [
        _boxed(_p(report["notice"], s["body"]), AMBER, "#fff4d6"),
        Spacer(1, 3),
        _p(f"The source: {report['source']}", s["body"]),
    ]


def _red_flags(report: Mapping, s: dict) -> list:
    """Each raised flag in a red box with its claims, or a green box saying there is none."""
    from reportlab.platypus import Spacer

    out = []
    for flag in report["red_flags"]:
        inner = [
            _p(f"{flag['title']}. {flag['message']}", s["flag"]),
            _p(f"Source claims: {words.flag_claims(flag)}", s["small"]),
        ]
        out += [_boxed(inner, RED, "#fde2e1"), Spacer(1, 3)]
    if not report["red_flags"]:
        out.append(_boxed(_p(words.NO_FLAGS, s["body"]), GREEN, "#e6f4ea"))
    return out


def _conflict(report: Mapping, s: dict) -> list:
    """The answers to double-check: in an orange box when they clearly pull apart, else a
    muted line (the section is left out when none do)."""
    line = words.conflict_text(report)
    if report["conflict"]["notice"]:
        return [_boxed(_p(line, s["flag"]), ORANGE, "#fff0e0")]
    return [_p(line, s["muted"])]


def _answers(report: Mapping, s: dict, width: float) -> list:
    """The answers given as a table of question, answer and id (or a line saying none)."""
    if not report["answers"]:
        return [_p(words.NO_ANSWERS, s["body"])]
    rows = [[a["question"], a["words"], a["variable"]] for a in report["answers"]]
    widths = [0.5 * width, 0.3 * width, 0.2 * width]
    return [_table(["question", "answer", "id"], rows, widths, set(), s)]


def _chart(report: Mapping, width: float, make=causes_figure) -> object:
    """A figure of the report (the causes' by default) as an image, shrunk to the text width
    and at most CHART_HEIGHT tall."""
    from reportlab.platypus import Image

    fig = make(report)
    w_in, h_in = fig.get_size_inches()
    scale = min(width / (w_in * 72), CHART_HEIGHT / (h_in * 72), 1.0)
    return Image(io.BytesIO(figure_png(fig)), w_in * 72 * scale, h_in * 72 * scale)


def _causes(report: Mapping, s: dict, width: float) -> list:
    """The interval wording, the chart, and the ranked causes with posterior, interval, how
    often each ranks first, and prior."""
    rows = [words.cause_cells(r) for r in report["causes"]["rows"]]
    head = words.cause_head(report)
    cols = [0.05, 0.28, 0.13, 0.18, 0.13, 0.10, 0.13]
    return [
        _p(words.interval_words(report), s["body"]),
        _chart(report, width),
        _table(head, rows, [c * width for c in cols], {0, 2, 3, 4, 5, 6}, s),
    ]


def _if_fixed(report: Mapping, s: dict, width: float) -> list:
    """The meaning, the first cause's sentence, and the causes by what putting each right
    alone would stop."""
    from reportlab.platypus import Spacer

    section = report["if_fixed"]
    out = [
        _p(words.if_fixed_words(report), s["body"]),
        Spacer(1, 3),
        _p(section["sentence"], s["flag"]),
        Spacer(1, 3),
    ]
    if section["rows"]:
        rows = [words.if_fixed_cells(r, section["features"]) for r in section["rows"]]
        cols = [0.38, 0.15, 0.13, 0.19, 0.15]
        head = words.if_fixed_head()
        out.append(_table(head, rows, [c * width for c in cols], {1, 2, 3, 4}, s))
    return out


def _timeline(report: Mapping, s: dict, width: float) -> list:
    """What the timeline shows, the chart of the top causes over time, and every step."""
    section = report["timeline"]
    out = [_p(words.timeline_words(report), s["body"])]
    if section["followed"]:
        out.append(_chart(report, width, timeline_figure))
    rows = [words.timeline_cells(report, step) for step in section["steps"]]
    cols = [0.05, 0.15, 0.40, 0.40]
    if words.timeline_then(report):  # a column for what was shown then
        cols = [0.05, 0.13, 0.30, 0.28, 0.24]
    head = words.timeline_head(report)
    out.append(_table(head, rows, [c * width for c in cols], {0}, s))
    return out


def _why(report: Mapping, s: dict, width: float) -> list:
    """Per top cause: the answers that moved it most, then the source's claims on its links."""
    out = []
    for item in report["why"]:
        out.append(_p(words.why_heading(item), s["h3"]))
        if item["moves"]:
            rows = [
                [m["label"], m["words"], words.signed(m["delta"]), words.prob(m["without"])]
                for m in item["moves"]
            ]
            head = ["answer", "given as", "change made", "without it"]
            cols = [0.3, 0.4, 0.15, 0.15]
            out.append(_table(head, rows, [c * width for c in cols], {2, 3}, s))
        else:
            out.append(_p(words.NO_MOVES, s["body"]))
        if item["claims"]:
            out.append(_p("The source's claims on the links involved (paraphrased):", s["body"]))
            out += _claims(item["claims"], s, links=True)
    return out


def _next_questions(report: Mapping, s: dict) -> list:
    """The questions worth asking next, numbered, each with its detail (or a line saying none)."""
    out = []
    for k, q in enumerate(report["next_questions"], start=1):
        out.append(_p(f"{k}. {q['label']}: {q['question']}", s["body"]))
        out.append(_p(words.next_detail(q), s["small"]))
        out += [_p(line, s["flag"]) for line in words.cautions(q)]
    if not report["next_questions"]:
        out.append(_p(words.NO_QUESTIONS, s["body"]))
    return out


def _remedies(report: Mapping, s: dict) -> list:
    """The remedies label in a grey box, then per cause the source's remedy claims."""
    out = [_boxed(_p(report["remedies"]["label"], s["flag"]), GREY, "#f2f2f2")]
    for item in report["remedies"]["causes"]:
        out.append(_p(f"{item['label']}: the source claims", s["h3"]))
        out += _claims(item["claims"], s) or [_p(words.NO_REMEDY, s["body"])]
    return out


def _case(report: Mapping, s: dict) -> list:
    """How to rerun the case, then the case as JSON in monospace: the report can be reproduced."""
    from reportlab.platypus import Preformatted, Spacer

    return [
        _p(words.case_words(), s["body"]),
        Spacer(1, 3),
        Preformatted(words.case_text(report), s["mono"], maxLineLength=95),
    ]


def _numbered_canvas(font: str):
    """A canvas class that writes "page N of M" once the page count is known."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._saved: list[dict] = []

        def showPage(self):  # noqa: N802 - reportlab's name
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self.setFont(font, 8)
                self.setFillColorRGB(0.35, 0.35, 0.35)
                page = f"page {self._pageNumber} of {total}"
                self.drawRightString(A4[0] - 18 * mm, 10 * mm, page)
                self.drawString(18 * mm, 10 * mm, "crampnet report: not medical advice")
                super().showPage()
            super().save()

    return NumberedCanvas


def report_pdf(report: Mapping) -> bytes:
    """The whole report as A4 PDF bytes, pages numbered "page N of M"."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=str(report["title"]),
        author="crampnet",
        subject="Posterior report; not medical advice",
        invariant=1,
    )
    doc.build(_story(report, doc.width), canvasmaker=_numbered_canvas(fonts()["regular"]))
    return buffer.getvalue()
