"""The report as one standalone HTML file: inline CSS, the chart as inline SVG, no network.

Only formats the dict of :func:`model.reports.content.build_report`; every text is escaped. Nothing
is loaded from elsewhere (no script, no font, no image URL), so the file opens offline and can be
mailed as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from model.reports import text as words
from model.reports.figures import causes_figure, figure_svg, timeline_figure

CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 52em;
  margin: 1.5em auto; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; padding-bottom: 0.15em; margin-top: 1.4em; }
h3 { font-size: 1em; margin-bottom: 0.3em; }
.meta { color: #555; font-size: 0.9em; margin: 0.1em 0; word-break: break-all; }
.notice { background: #fff4d6; border-left: 5px solid #e0a800; padding: 0.6em 0.9em; }
.flag { background: #fde2e1; border-left: 6px solid #c0392b; padding: 0.6em 0.9em;
  margin: 0.5em 0; font-weight: bold; }
.flag small { font-weight: normal; display: block; margin-top: 0.3em; }
.caution { background: #fff4e0; border-left: 5px solid #a15c00; padding: 0.3em 0.7em;
  margin: 0.3em 0; }
.conflict { background: #fff0e0; border-left: 6px solid #d35400; padding: 0.6em 0.9em;
  margin: 0.5em 0; font-weight: bold; }
.muted { color: #666; font-size: 0.9em; }
.noflag { background: #e6f4ea; border-left: 5px solid #2e7d32; padding: 0.5em 0.9em; }
.source-claim { background: #f2f2f2; border-left: 4px solid #888; padding: 0.4em 0.8em; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; margin: 0.4em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.4em; text-align: left;
  vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; font-size: 0.85em; }
figure { margin: 0.6em 0; }
figure svg { width: 100%; height: auto; }
.claim-id { font-weight: bold; }
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _table(head: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    """A table of already escaped cells; columns in ``numeric`` are right-aligned."""
    cls = [' class="num"' if i in numeric else "" for i in range(len(head))]
    out = ["<table><thead><tr>"]
    out += [f"<th{c}>{_e(h)}</th>" for h, c in zip(head, cls, strict=True)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{c}>{v}</td>" for v, c in zip(row, cls, strict=True)))
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _section(name: str, body: str) -> str:
    return f'<section id="{name}">\n<h2>{_e(words.title(name))}</h2>\n{body}\n</section>'


def _claims_list(claims: list[Mapping], *, links: bool = False) -> str:
    items = []
    for c in claims:
        extra = f" <small>(links: {_e(', '.join(c['links']))})</small>" if links else ""
        items.append(
            f'<li><span class="claim-id">{_e(c["id"])}</span> ({_e(c["section"])}): '
            f"{_e(c['text'])}{extra}</li>"
        )
    return "<ul>" + "".join(items) + "</ul>" if items else ""


def _red_flags(report: Mapping) -> str:
    if not report["red_flags"]:
        return f'<p class="noflag">{_e(words.NO_FLAGS)}</p>'
    return "\n".join(
        f'<div class="flag" id="flag-{_e(f["id"])}">'
        f"<strong>{_e(f['title'])}.</strong> {_e(f['message'])}"
        f"<small>Source claims: {_e(words.flag_claims(f))}</small></div>"
        for f in report["red_flags"]
    )


def _conflict(report: Mapping) -> str:
    """The answers to double-check: a highlighted box when they clearly pull apart, else a
    muted line (the section is left out when none do)."""
    cls = "conflict" if report["conflict"]["notice"] else "muted"
    return f'<p class="{cls}">{_e(words.conflict_text(report))}</p>'


def _answers(report: Mapping) -> str:
    if not report["answers"]:
        return f"<p>{_e(words.NO_ANSWERS)}</p>"
    rows = [
        [_e(a["question"]), _e(a["words"]), f"<code>{_e(a['variable'])}</code>"]
        for a in report["answers"]
    ]
    return _table(["question", "answer", "id"], rows, set())


def _causes(report: Mapping, svg: str) -> str:
    rows = [[_e(c) for c in words.cause_cells(r)] for r in report["causes"]["rows"]]
    table = _table(words.cause_head(report), rows, {0, 2, 3, 4, 5, 6})
    return f"<p>{_e(words.interval_words(report))}</p>\n<figure>{svg}</figure>\n{table}"


def _if_fixed(report: Mapping) -> str:
    """The meaning, the first cause's sentence and the causes by what putting each right would
    stop."""
    section = report["if_fixed"]
    parts = [
        f"<p>{_e(words.if_fixed_words(report))}</p>",
        f"<p><b>{_e(section['sentence'])}</b></p>",
    ]
    if section["rows"]:
        rows = [
            [_e(c) for c in words.if_fixed_cells(r, section["features"])] for r in section["rows"]
        ]
        parts.append(_table(words.if_fixed_head(), rows, {1, 2, 3, 4}))
    return "\n".join(parts)


def _timeline(report: Mapping) -> str:
    """What the timeline shows, the chart of the top causes over time, and every step: when,
    what happened (notes as written, escaped), the top causes then as the model gives them now
    and, where it differs, what was shown then."""
    section = report["timeline"]
    parts = [f"<p>{_e(words.timeline_words(report))}</p>"]
    if section["followed"]:
        parts.append(f"<figure>{figure_svg(timeline_figure(report))}</figure>")
    rows = [[_e(c) for c in words.timeline_cells(report, step)] for step in section["steps"]]
    parts.append(_table(words.timeline_head(report), rows, {0}))
    return "\n".join(parts)


def _why(report: Mapping) -> str:
    parts = []
    for item in report["why"]:
        parts.append(f"<h3>{_e(words.why_heading(item))}</h3>")
        if item["moves"]:
            rows = [
                [_e(m["label"]), _e(m["words"]), words.signed(m["delta"]), words.prob(m["without"])]
                for m in item["moves"]
            ]
            parts.append(_table(["answer", "given as", "change made", "without it"], rows, {2, 3}))
        else:
            parts.append(f"<p>{_e(words.NO_MOVES)}</p>")
        if item["claims"]:
            parts.append("<p>The source's claims on the links involved (paraphrased):</p>")
            parts.append(_claims_list(item["claims"], links=True))
    return "\n".join(parts)


def _next(report: Mapping) -> str:
    if not report["next_questions"]:
        return f"<p>{_e(words.NO_QUESTIONS)}</p>"
    items = [
        f"<li><b>{_e(q['label'])}</b>: {_e(q['question'])}<br><small>{_e(words.next_detail(q))}"
        "</small>"
        + "".join(f'<p class="caution">{_e(line)}</p>' for line in words.cautions(q))
        + "</li>"
        for q in report["next_questions"]
    ]
    return "<ol>" + "".join(items) + "</ol>"


def _remedies(report: Mapping) -> str:
    parts = [f'<p class="source-claim"><b>{_e(report["remedies"]["label"])}</b></p>']
    for item in report["remedies"]["causes"]:
        parts.append(f"<h3>{_e(item['label'])}: the source claims</h3>")
        parts.append(_claims_list(item["claims"]) or f"<p>{_e(words.NO_REMEDY)}</p>")
    return "\n".join(parts)


def report_html(report: Mapping) -> str:
    """The whole report as one HTML document (text)."""
    svg = figure_svg(causes_figure(report))
    head = (
        f"<h1>{_e(report['title'])}</h1>\n"
        f'<p class="meta">Date: {_e(report["date"])}</p>\n'
        f'<p class="meta">{_e(words.identity(report))}</p>'
    )
    notice = (
        f'<p class="notice">{_e(report["notice"])}</p>\n'
        f"<p><b>The source:</b> {_e(report['source'])}</p>"
    )
    case = f"<p>{_e(words.case_words())}</p>\n<pre>{_e(words.case_text(report))}</pre>"
    sections = {
        "notice": lambda: notice,
        "red_flags": lambda: _red_flags(report),
        "conflict": lambda: _conflict(report),
        "answers": lambda: _answers(report),
        "causes": lambda: _causes(report, svg),
        "if_fixed": lambda: _if_fixed(report),
        "timeline": lambda: _timeline(report),
        "why": lambda: _why(report),
        "next_questions": lambda: _next(report),
        "remedies": lambda: _remedies(report),
        "case": lambda: case,
    }
    body = [head] + [_section(name, sections[name]()) for name in words.shown_sections(report)]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(report['title'])}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
