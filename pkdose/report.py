"""Batch reports: regimen files in, one self-contained HTML report (plus CSV/JSON/MD) out.

Every input file is loaded and simulated on its own, in a worker process under a time
budget (:mod:`pkdose.worker`), so a file that fails in any way, or runs too long, is
recorded with a one-line reason and the rest of the batch is still reported. The outputs
are staged and moved into the output folder at the end (:class:`pkdose.files.OutputFolder`):
a failed or interrupted run leaves the previous report as it was, links are never followed
and files the report did not write are never replaced. Output depends only on the inputs
(and the pkdose version): files are taken in sorted order, numbers are written with a
fixed precision, and PNGs carry no software version; the one exception is the generated-at
line of ``report.html`` and ``report.md``. The column contract of ``metrics.csv`` and
``metrics.json``, and these guarantees, are in ``docs/report.md``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pkdose import NOTICE, __version__
from pkdose.errors import PkdoseError, warning_messages
from pkdose.files import OutputFolder, printable
from pkdose.regimen import Regimen

if TYPE_CHECKING:
    from pkdose.comparison import Placement

FORMATS = ("html", "csv", "json", "md")
#: Stable column order of metrics.csv and of each row of metrics.json.
COLUMNS = ("regimen_id", "regimen", "source_file", "drug", "model", "basis", "metric", "value",
           "unit")
#: Horizon of the per-regimen and overlay figures.
PLOT_HORIZON_H = 4 * 168.0
#: Fine enough to draw the ~0.7 h everolimus peaks over the 4-week horizon.
PLOT_STEP_H = 0.1
#: Lines of report.html / report.md that change from run to run start with this.
GENERATED_PREFIX = "Generated at"
#: Default wall-clock budget (s) to load and simulate one input file. A file of the
#: shipped library takes well under a second; the budget is for a file that never ends.
FILE_TIMEOUT_S = 120.0
#: The list of files a report wrote into its folder (see :class:`pkdose.files.OutputFolder`).
MANIFEST = ".pkdose-report.json"
#: The page files: deleted first and moved in last, so a half-moved report has no page.
PAGES = ("report.html", "report.md")
#: PNG metadata: without the matplotlib version the PNG bytes depend only on the picture.
PNG_METADATA = {"Software": None}
#: Regimen ids a regimen file cannot take: they name fixed figures (figures/overlay.png).
RESERVED_IDS = frozenset({"overlay"})
#: Longest regimen id: with ``.png`` it stays a legal file name on every file system.
MAX_ID_CHARS = 80
#: Exposure columns of the summary and reference tables (registry names), shown as
#: ``pkdose compare`` shows them.
_SUMMARY = ("Cmax", "Ctrough", "Cavg", "AUC168")
#: Columns of exposure rows that are labels, not metrics.
_LABELS = ("regimen", "drug", "model", "species", "basis", "comedication", "id")

Progress = Callable[[int, int, str], None]


@dataclass
class ReportResult:
    """What :func:`build_report` did.

    Attributes
    ----------
    ok : list of str
        Input files whose every regimen is in the report, in report order.
    failed : list of (str, str)
        Input files (or one subject of an event table) left out, with a one-line reason.
    files : list of Path
        Files written, report files first, then the figures.
    """

    ok: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


@dataclass
class _Entry:
    """One reported regimen: its metrics row, PD verdict reasons and curves."""

    regimen_id: str
    source_file: str
    regimen: Regimen
    row: pd.Series
    curve: pd.DataFrame
    pd_curve: pd.DataFrame
    warnings: list[str]

    @property
    def label(self) -> str:
        """The regimen as text, with the co-medication it is simulated with (the row's
        regimen: engine.scenario merges the co-medications into it)."""
        return str(self.row["regimen"])


# --------------------------------------------------------------------------- inputs


def expand_paths(paths: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Input files from PATH arguments, and the arguments that are not usable.

    A folder gives its ``*.toml`` and ``*.csv`` entries (sorted by name, not recursive;
    an entry that is not a regular file, such as a FIFO, is taken so that reading it lists
    it as bad; the ``metrics.csv`` of a report written there is not); a file is taken as
    given. Files named twice are reported once.
    """
    files: list[str] = []
    bad: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            # A report written into its input folder left metrics.csv there: not an input.
            ours = {"metrics.csv"} if (p / MANIFEST).is_file() else set()
            try:
                found = sorted(c for c in p.iterdir()
                               if c.suffix.lower() in (".toml", ".csv") and c.name not in ours)
            except OSError as exc:
                bad.append((raw, f"cannot list the folder: {exc.strerror or exc}"))
                continue
            if not found:
                bad.append((raw, "folder holds no *.toml or *.csv regimen file"))
            files += [str(c) for c in found]
        elif not p.exists():
            bad.append((raw, "no such file or folder"))
        elif p.suffix.lower() not in (".toml", ".csv"):
            bad.append((raw, "not a regimen file: expected a .toml regimen or a .csv event "
                             "table"))
        else:
            files.append(str(p))
    return list(dict.fromkeys(files)), bad


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower())[:MAX_ID_CHARS].strip("-") or "regimen"


@dataclass(frozen=True)
class Unit:
    """One regimen of an input file, as it is simulated."""

    slug: str
    #: Or why it could not be read (one subject of an event table), raised when simulated.
    regimen: Regimen | PkdoseError
    comedication: tuple[str, ...] = ()
    species: str | None = None


def load_file(path: str) -> list[Unit]:
    """The regimens of one file: its stem; ``<stem>-<arm>`` per arm of a reference file
    (with the arm's co-medication and the file's species); ``<stem>-<ID>`` per ID of an
    event table."""
    stem = _slug(Path(path).stem)
    if path.lower().endswith(".csv"):
        from pkdose.regimen_io import events_by_subject, read_events_csv

        regs = events_by_subject(read_events_csv(path), source=path)
        return [Unit(f"{stem}-{_slug(str(i))}", reg) for i, reg in regs.items()]
    from pkdose.references import reference_of
    from pkdose.regimen_io import read_regimen_toml

    ref = reference_of(path)
    if ref is None:
        return [Unit(stem, read_regimen_toml(path))]
    species = None if ref.species == "human" else ref.species
    if not ref.arms:
        return [Unit(stem, ref.regimen, ref.comedication, species)]
    return [Unit(f"{stem}-{_slug(a.name)}", a.regimen, a.comedication, species)
            for a in ref.arms]


def _unique(slug: str, taken: set[str]) -> str:
    """``slug``, or ``slug-2``, ``slug-3`` ... if taken or reserved (:data:`RESERVED_IDS`)."""
    out, k = slug, 2
    while out in taken or out in RESERVED_IDS:
        out, k = f"{slug}-{k}", k + 1
    taken.add(out)
    return out


# --------------------------------------------------------------------------- numbers


def _units() -> dict[str, str]:
    """Unit of each metric column: the engine's registry, then the placement columns."""
    from pkdose.engine import QUANTITIES
    from pkdose.results import HIGH, LOW, P5, P95, VERDICT_LABELS

    out = {q.column + end: ("" if q.unit in ("label", "text") else q.unit)
           for q in QUANTITIES.values() for end in ("", LOW, HIGH, P5, P95)}
    out.update({f"mtorc2_{v}_fraction": "fraction" for v in VERDICT_LABELS})
    # The other placement columns are text, or ratios (metric_rows).
    out.update({"window_h": "h", "population_n": "subjects", "nearest_log_distance": "log"})
    return out


def _value(v: object) -> object:
    """A metric value for CSV/JSON: 10 significant digits, 'inf', None for not reached."""
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):  # mtorc2_models_disagree
        return bool(v)
    x = float(v)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(f"{x:.10g}")


def metric_rows(entries: Sequence[_Entry], placed: Placement | None) -> list[dict[str, object]]:
    """Long-format rows: one per regimen and metric (columns :data:`COLUMNS`)."""
    units = _units()
    rows: list[dict[str, object]] = []
    for e in entries:
        base = {"regimen_id": e.regimen_id, "regimen": e.label,
                "source_file": e.source_file, "drug": e.regimen.drug,
                "model": e.row["model"], "basis": e.row["basis"]}
        values = {k: v for k, v in e.row.items() if k not in _LABELS}
        if placed is not None:
            values.update(placed.nearest_of(e.regimen_id))
            values.update({f"ctrough_vs_{t['reference']}_{t['kind']}": t["position"]
                           for _, t in placed.targets_of(e.regimen_id).iterrows()})
        for metric, v in values.items():
            rows.append({**base, "metric": metric, "value": _value(v),
                         "unit": units.get(metric, "ratio" if metric.endswith("_ratio")
                                           else "")})
    return rows


# --------------------------------------------------------------------------- figures


def _figures(entries: Sequence[_Entry], placed: Placement | None, out: OutputFolder,
             failed: list[tuple[str, str]]) -> tuple[list[_Entry], dict[str, Path]]:
    """One PNG per regimen, then overlay.png of those drawn.

    A regimen whose figure cannot be drawn is moved to ``failed``, like a file that cannot
    be simulated. Returns the regimens drawn and {regimen_id or 'overlay': staged path}.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    from pkdose.plotting import curves_figure, groups_figure

    def save(rel: str, fig) -> Path:
        try:
            # Saved here, not by plot_curves, so a full disk names the report's file.
            fig.savefig(path := out.path(rel), metadata=PNG_METADATA)
        finally:
            plt.close(fig)
        return path

    paths: dict[str, Path] = {}
    drawn: list[_Entry] = []
    # hashsalt only matters for SVG ids; set so any vector output is stable too.
    with matplotlib.rc_context({"svg.hashsalt": "pkdose-report"}):
        for e in entries:
            rel = f"figures/{e.regimen_id}.png"
            try:
                paths[e.regimen_id] = save(rel, curves_figure(
                    [(f"{e.regimen}  [{e.row['model']}]", e.curve)],
                    bands=placed.bands(e.regimen_id) if placed else [], title=e.regimen_id,
                    pd_curves=[e.pd_curve]))
                drawn.append(e)
            except OSError as exc:  # the output folder (a full disk), not this regimen
                raise out.write_error(rel, exc) from None
            except Exception as exc:  # noqa: BLE001 - one regimen's figure, not the batch
                out.discard(rel)
                failed.append((f"{e.source_file} ({e.regimen_id})", failure_reason(exc, "")))
        if drawn:
            # One panel per species and drug, so that dozens of regimens stay legible.
            groups: dict[str, list] = {}
            for e in drawn:
                key = f"{e.row.get('species', 'human')} {e.row.get('drug', '')}".strip()
                groups.setdefault(key, []).append((e.regimen_id, e.curve))
            order = sorted(groups, key=lambda k: (not k.startswith("human "), k))
            fig = groups_figure([(k, groups[k]) for k in order],
                                title="All regimens by species and drug, first 4 weeks "
                                      "(log scale)")
            try:
                paths["overlay"] = save("figures/overlay.png", fig)
            except OSError as exc:
                raise out.write_error("figures/overlay.png", exc) from None
    return drawn, paths


# --------------------------------------------------------------------------- sources


def _pd_source() -> str:
    from pkdose.data import load_toml

    procedure = load_toml("mtor_pd.toml").get("fitted", {}).get("procedure", "")
    return ("pkdose/data/mtor_pd.toml: structure and defaults from the pkdose mTORC2 "
            "proposal, each parameter with its cited anchors (docs/mtorc2.md). " + procedure)


# --------------------------------------------------------------------------- HTML / MD

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:24px auto;
max-width:1400px;padding:0 16px;color:#1b1b1b;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.6em}h3{margin-bottom:.3em}
.notice{background:#fff4d6;border:1px solid #e0b84c;padding:8px 12px;border-radius:4px}
.failed{background:#fde8e8;border:1px solid #d66;padding:8px 12px;border-radius:4px}
.meta{color:#555;font-size:.9em}code{background:#f3f3f3;padding:0 3px;border-radius:3px}
table{border-collapse:collapse;font-size:.85em;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafafa}
.wide{overflow-x:auto}td.text{min-width:16em}td.id{white-space:nowrap}
img{max-width:100%;height:auto;border:1px solid #ddd}
.verdict-spared{color:#1a7f37;font-weight:600}.verdict-equivocal{color:#9a6700;font-weight:600}
.verdict-inhibited{color:#cf222e;font-weight:600}
section.regimen{border-top:2px solid #888;margin-top:2em}
"""


def _fmt(v: object, spec: str) -> str:
    """Text of a value in the pages: a format ``spec`` like ``".3g"``, n/a where undefined."""
    from pkdose.results import number

    return v if isinstance(v, str) else number(v, spec)


def _verdict(label: str) -> str:
    # A star marks a verdict the models disagree on; a range row lists each model's.
    known = label.rstrip("*")
    if known not in ("spared", "equivocal", "inhibited"):
        return html.escape(label)
    return f'<span class="verdict-{known}">{html.escape(label)}</span>'


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _summary_rows(entries: Sequence[_Entry], placed: Placement | None) -> list[list[str]]:
    """Header then one row per regimen, each followed by its model range (as in ``pkdose
    compare``), as plain text (escaped by the caller)."""
    from pkdose.engine import quantity
    from pkdose.results import RANGE_LEGEND, format_value, model_range, span_rows, verdict_mark

    shown = [quantity(m) for m in (*_SUMMARY, "mTORC1 mean", "mTORC2 mean", "mTORC2 verdict")]
    head = ["id", "regimen", "source file", "model", "basis", *[q.label for q in shown[:-1]],
            "verdict", "first reason"]
    if placed is not None:
        head += ["nearest reference", "AUC168 ratio"]
    rows = [head]
    for e in entries:
        r = e.row
        line = [e.regimen_id, e.label, Path(e.source_file).name, str(r["model"]),
                str(r["basis"]),
                *(format_value(r[q.column], q.unit) + verdict_mark(r, q.column) for q in shown),
                str(r["mtorc2_reasons"]).split("; ")[0]]
        if placed is not None:
            near = placed.nearest_of(e.regimen_id)
            line += [str(near.get("nearest_reference", "-")),
                     _fmt(near.get("nearest_auc168_ratio", math.nan), ".2g")]
        rows.append(line)
        for label, legend, cells in span_rows(r, shown):
            span = ["", label, "", "", "", *cells,
                    ", ".join(model_range(r)) if legend == RANGE_LEGEND else ""]
            rows.append(span + [""] * (len(head) - len(span)))
    return rows


def _html_table(rows: list[list[str]], table_id: str = "", verdict_col: int = -1,
                text_cols: Sequence[int] = ()) -> str:
    attr = f' id="{table_id}"' if table_id else ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in rows[0])
    out = ['<div class="wide">', f"<table{attr}>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for r in rows[1:]:
        cells = []
        for i, c in enumerate(r):
            if i == verdict_col:
                cells.append(f"<td>{_verdict(c)}</td>")
            elif i in text_cols:
                cells.append(f'<td class="text">{html.escape(c)}</td>')
            elif i == 0:
                cells.append(f'<td class="id">{html.escape(c)}</td>')
            elif re.fullmatch(r"[-+0-9.e]+|inf", c):
                cells.append(f'<td class="num">{html.escape(c)}</td>')
            else:
                cells.append(f"<td>{html.escape(c)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def render_html(entries: Sequence[_Entry], failed: Sequence[tuple[str, str]],
                placed: Placement | None, figures: dict[str, Path], command: str,
                generated: str) -> str:
    """The self-contained report page (inline CSS, base64 PNGs, no scripts or links)."""
    e_ = html.escape
    # The version and command line, at the top and again at the bottom of the page.
    meta = (f'<p class="meta">pkdose {e_(__version__)} &middot; command: '
            f"<code>{e_(command)}</code></p>")
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>pkdose regimen report</title>", f"<style>{_CSS}</style>", "</head>",
             "<body>", "<h1>pkdose regimen report</h1>",
             f'<p class="notice" id="notice-top"><strong>Research use only.</strong> '
             f"{e_(NOTICE)}</p>",
             f'<p class="meta" id="generated">{GENERATED_PREFIX} {e_(generated)}</p>', meta]
    if failed:
        items = "\n".join(f"<li><code>{e_(p)}</code>: {e_(reason)}</li>" for p, reason in failed)
        parts.append(f'<section class="failed" id="failed"><h2>Files not reported '
                     f"({len(failed)})</h2><p>These inputs could not be read or simulated; "
                     f"every other regimen is reported below.</p><ul>\n{items}\n</ul></section>")
    summary = _summary_rows(entries, placed)
    parts += ["<h2>Summary</h2>",
              f"<p>{len(entries)} regimen(s), typical subject (70 kg, 180 cm, male, 50 y, "
              "HCT 44 %), each drug's default model. Concentrations in whole blood, ng/mL; "
              "AUC168 = AUC per week (ng&middot;h/mL); Ctrough, Cavg and AUC168 over one "
              "steady-state cycle (regimens that go on) or the first week (regimens that stop); "
              "mTORC1 % = mean inhibition; mTORC2 % = mean assembled fraction; the mTORC2 "
              "verdict is a research hypothesis (docs/mtorc2.md). Under a regimen, its "
              "<em>range over N models</em>: the lowest and highest value over every shipped "
              "model valid for it (same drug and species, takes its route and co-medication; "
              "a dose outside a model's fitted range is warned about, not left out) and each "
              "model's verdict when they disagree (marked *). n/a: not defined for the "
              "regimen (e.g. a swing with a trough of 0)."
              + (" Under it, <em>5-95 % of N</em>: the 5th to 95th percentile of each metric "
                 "over N virtual subjects of the population named (covariates and "
                 "between-subject variability), the share of them per verdict, and the "
                 "same band shaded in each figure."
                 if any("population_n" in e.row for e in entries) else "") + "</p>",
              _html_table(summary, "summary", verdict_col=summary[0].index("verdict"),
                          text_cols=(summary[0].index("first reason"),)),
              "<h2>All regimens</h2>", _img(figures["overlay"], "overlay of all regimens")]
    if placed is not None and not placed.references.frame.empty:
        from pkdose.engine import quantity
        from pkdose.results import format_value

        shown = [quantity(m) for m in (*_SUMMARY, "mTORC2 verdict")]
        rows = [["reference", "purpose", "regimen", *_SUMMARY, "verdict"],
                *([str(r["reference"]), str(r["purpose"]), str(r["regimen"]),
                   *(format_value(r[q.column], q.unit) for q in shown)]
                  for _, r in placed.references.frame.iterrows())]
        parts += ["<h2>Reference regimens</h2>",
                  "<p>Steady state of each reference's repeating dose, default model, with "
                  "its own co-medication (docs/references.md).</p>",
                  _html_table(rows, "references", verdict_col=7)]
    from pkdose.results import RANGE_COLUMNS, model_range

    units = _units()
    for e in entries:
        r = e.row
        reasons = str(r["mtorc2_reasons"]).split("; ")
        parts += [f'<section class="regimen" id="{e_(e.regimen_id)}">',
                  f"<h2>{e_(e.regimen_id)}</h2>",
                  f"<p><strong>{e_(e.label)}</strong> &middot; source "
                  f"<code>{e_(e.source_file)}</code> &middot; model {e_(str(r['model']))} "
                  f"&middot; basis {e_(str(r['basis']))}</p>",
                  _img(figures[e.regimen_id], f"curve and mTOR panel of {e.regimen_id}"),
                  f"<h3>mTORC2 verdict: {_verdict(str(r['mtorc2_verdict']))}</h3>",
                  "<ul>" + "".join(f"<li>{e_(x)}</li>" for x in reasons) + "</ul>"]
        if model_range(r):
            parts.append(f"<p>Verdict under each model valid for the regimen: "
                         f"{e_(str(r['mtorc2_verdict_by_model']))}</p>")
        if placed is not None and (said := placed.lines(e.regimen_id)):
            parts.append("<ul>" + "".join(f"<li>{e_(x)}</li>" for x in said) + "</ul>")
        if e.warnings:
            parts.append("<p>Warnings:</p><ul>" + "".join(f"<li>{e_(w)}</li>"
                                                           for w in e.warnings) + "</ul>")
        metric_table = [["metric", "value", "unit"],
                        *([str(k), _fmt(v, ".4g"), units.get(str(k), "")] for k, v in r.items()
                          if k not in (*_LABELS, "mtorc2_reasons", "mtorc2_verdict",
                                       *RANGE_COLUMNS))]
        parts += [_html_table(metric_table), "</section>"]
    from pkdose.model import get_model

    parts += ['<h2 id="sources">Models and sources</h2>', "<ul>"]
    for m in map(get_model, sorted({str(e.row["model"]) for e in entries})):
        doi = str(m.source.get("doi", ""))
        parts.append(f"<li><strong>{e_(m.name)}</strong> ({e_(m.drug)}): {e_(m.title)}. "
                     f"{e_(str(m.source.get('citation', '')))}{e_(f' doi:{doi}' if doi else '')}"
                     "</li>")
    parts += [f"<li><strong>mTOR PD</strong>: {e_(_pd_source())}</li>", "</ul>",
              meta, f'<p class="notice" id="notice-bottom">{e_(NOTICE)}</p>', "</body>", "</html>"]
    return "\n".join(parts) + "\n"


#: Characters with a meaning anywhere in a markdown line (CommonMark, GitHub tables,
#: strikethrough and math). Without ``[`` no link or image can start, so ``(``, ``)`` and
#: ``!`` may stay.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~$])")
#: What, at the start of a list item's text, would start a nested list.
_MD_LEADING = re.compile(r"^(?:(?=[-+])|(\d+)(?=[.)]))")


def md_text(text: str, leading: bool = False) -> str:
    """Text shown as itself in markdown: on one line, ``&``, ``<`` and ``>`` as HTML
    entities (which every markdown dialect passes on) and the other markup characters
    backslash-escaped, so a file name or regimen text cannot add links, images, HTML,
    emphasis or table cells; with ``leading`` (text that starts a list item) it cannot
    start a nested list either."""
    text = _MD_SPECIAL.sub(r"\\\1", html.escape(printable(text), quote=False))
    return _MD_LEADING.sub(lambda m: (m.group(1) or "") + "\\", text) if leading else text


def render_md(entries: Sequence[_Entry], failed: Sequence[tuple[str, str]],
              placed: Placement | None, command: str, generated: str) -> str:
    """A short markdown summary; figures are linked from figures/, not embedded.

    Every text from the inputs (file names, regimens, reasons, the command) is escaped
    (:func:`md_text`); regimen ids are slugs, safe in links as they are.
    """
    lines = ["# pkdose regimen report", "", f"> {NOTICE}", "", f"{GENERATED_PREFIX} {generated}",
             "", f"pkdose {__version__}; command: {md_text(command)}", ""]
    if failed:
        lines += [f"## Files not reported ({len(failed)})", ""]
        lines += [f"- {md_text(p, leading=True)}: {md_text(reason)}"
                  for p, reason in failed] + [""]
    rows = _summary_rows(entries, placed)
    lines += ["## Summary", "", "| " + " | ".join(rows[0]) + " |",
              "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(md_text(c) for c in r) + " |" for r in rows[1:]]
    lines += ["", "![all regimens](figures/overlay.png)", ""]
    lines += [f"- {e.regimen_id}: ![{e.regimen_id}](figures/{e.regimen_id}.png)"
              for e in entries]
    lines += ["", f"> {NOTICE}", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- build


@dataclass(frozen=True)
class Variation:
    """The virtual subjects of a report's 5-95 % intervals and shaded bands (as
    ``pkdose.comparison.compare`` takes them)."""

    population: str | None = None
    n: int = 500
    seed: int = 1


def _simulate_entry(regimen_id: str, source: str, unit: Unit,
                    variation: Variation | None = None) -> _Entry:
    from pkdose.comparison import compare
    from pkdose.engine import DEFAULT_METRICS
    from pkdose.pd import curve_pd
    from pkdose.simulation import reference_caveats, simulate

    if isinstance(reg := unit.regimen, PkdoseError):
        raise reg
    # Virtual populations are human: an animal regimen is reported for the typical animal.
    varied = {} if variation is None or unit.species else asdict(variation)
    with warning_messages() as messages:
        row = compare([reg], with_=unit.comedication, species=unit.species,
                      metrics=(*DEFAULT_METRICS, "mTORC2 reasons"), **varied).frame.iloc[0]
        curve = simulate(reg, row["model"], until_h=PLOT_HORIZON_H, step_h=PLOT_STEP_H,
                         with_=unit.comedication)
        if varied:
            from pkdose.population import curve_band

            curve = curve.assign(**curve_band(reg, **varied, model=row["model"],
                                              with_=unit.comedication,
                                              times_h=curve["time_h"]))
    if variation is not None and unit.species:
        messages.append(f"virtual populations are human: this {unit.species} regimen is "
                        "reported for the typical animal, without 5-95 % intervals")
    if source.lower().endswith(".toml"):
        messages = reference_caveats(source) + messages
    pdc = curve_pd(reg.drug, curve, unit.species or "human")
    return _Entry(regimen_id, source, reg, row, curve, pdc, messages)


@dataclass
class FileReport:
    """What one input file gave: its simulated regimens (``regimen_id`` still the file's
    own slug, made unique by the caller) and the regimens or file that failed, with a
    one-line reason."""

    entries: list[_Entry] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def failure_reason(exc: BaseException, path: str) -> str:
    """One line for a failed file: the message of bad input (without the file name the
    failure list already shows); out of memory or a bug said as such."""
    text = " ".join(str(exc).split())
    if isinstance(exc, PkdoseError):
        return text[len(path) + 2:] if path and text.startswith(f"{path}: ") else text
    if isinstance(exc, MemoryError):
        return "ran out of memory simulating it; split it into smaller files"
    return (f"internal error ({type(exc).__name__}: {text}); this is a bug in pkdose: "
            "please report the file that caused it")


def report_file(path: str, variation: Variation | None = None) -> FileReport:
    """Load one input file and simulate each of its regimens (with ``variation``, also in
    its virtual subjects); never raises.

    Any exception, not only bad input, is recorded for the file (load) or for the regimen
    (simulation), so one arm failing keeps the file's other arms. This is the unit of work
    :func:`build_report` runs under the time budget.
    """
    out = FileReport()
    try:
        units = load_file(path)
    except Exception as exc:  # noqa: BLE001 - whatever one file does stays with that file
        out.failed.append((path, failure_reason(exc, path)))
        return out
    for unit in units:
        try:
            out.entries.append(_simulate_entry(unit.slug, path, unit, variation))
        except Exception as exc:  # noqa: BLE001 - as above, for one regimen of the file
            where = path if len(units) == 1 else f"{path} ({unit.slug})"
            out.failed.append((where, failure_reason(exc, path)))
    return out


def _report_files(files: Sequence[str], progress: Progress | None,
                  file_timeout_s: float | None, variation: Variation | None
                  ) -> list[FileReport]:
    """:func:`report_file` for each file: in one worker process under the time budget
    (replaced after a file it had to abandon), or in this process without one."""
    from contextlib import nullcontext

    from pkdose import worker

    budget = file_timeout_s is not None and worker.available()
    reports: list[FileReport] = []
    with (worker.Worker(preload=("pkdose.report", "pkdose.comparison", "pkdose.simulation",
                                 "pkdose.pd")) if budget else nullcontext()) as w:
        for i, path in enumerate(files, 1):
            if progress is not None:
                progress(i, len(files), path)
            if not budget:
                reports.append(report_file(path, variation))
                continue
            try:
                reports.append(w.call(report_file, (path, variation), file_timeout_s))
            except worker.CallFailed as exc:
                reason = {
                    "timeout": f"took longer than {file_timeout_s:g} s, the time budget per "
                               "file; it was stopped: split it into smaller files or allow "
                               "more time",
                    "stopped": f"the worker process simulating it stopped ({exc.detail}); "
                               "this is a bug in pkdose or the machine ran out of memory",
                    "raised": f"internal error ({exc.detail}); this is a bug in pkdose: "
                              "please report the file that caused it"}[exc.kind]
                reports.append(FileReport(failed=[(path, reason)]))
    return reports


def build_report(paths: Sequence[str], out_dir: str | Path, against: str | None = None,
                 formats: Sequence[str] = FORMATS, command: str = "",
                 progress: Progress | None = None,
                 file_timeout_s: float | None = FILE_TIMEOUT_S,
                 variation: Variation | None = None) -> ReportResult:
    """Report every regimen of the given files in ``out_dir``.

    Parameters
    ----------
    paths : sequence of str
        Regimen TOML files, folders of them (``*.toml`` and ``*.csv``, sorted, not
        recursive) and NONMEM-style event-table CSVs (one regimen per ID).
    out_dir : str or Path
        Created if missing; gets ``report.html``, ``metrics.csv``, ``metrics.json``,
        ``report.md`` (as chosen by ``formats``), ``figures/*.png`` and the list of them,
        ``.pkdose-report.json``. Written as a whole at the end (``docs/report.md``): a run
        that fails or is interrupted leaves it as it was; a symbolic link as ``out_dir``
        (or as its ``figures`` folder or list) is refused, and so is a file there that an
        earlier report did not write.
    against : str, optional
        Reference groups (``transplant,ageing``, ...; see ``pkdose.comparison.parse_against``)
        for the nearest reference, ratios, trough targets and target bands.
    formats : sequence of str
        Any of ``html``, ``csv``, ``json``, ``md``. Figures are always written.
    command : str
        The command line shown in the report.
    progress : callable, optional
        Called as ``progress(i, n, path)`` before each input file (1-based).
    file_timeout_s : float or None
        Wall-clock budget to load and simulate one file, in seconds (default
        :data:`FILE_TIMEOUT_S`); files run one after another in a worker process, which
        is stopped and replaced when a file overruns. None runs the files in this
        process with no budget (any exception is still kept to its file).
    variation : Variation, optional
        Also simulate every regimen in these virtual subjects: each metric's 5-95 %
        interval and the share of subjects per verdict beside its row, and the 5-95 %
        band shaded in its figure.

    Raises
    ------
    PkdoseError
        Bad usage: an unknown format or reference group, a time budget that is not a
        positive number, no readable regimen at all, an unusable ``out_dir``, or an output
        that cannot be written (a full disk). Problems with single files are recorded,
        not raised.
    """
    from pkdose.comparison import parse_against, place
    from pkdose.results import ExposureTable, json_text

    fmts = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    unknown = [f for f in fmts if f not in FORMATS]
    if unknown or not fmts:
        raise PkdoseError(f"unknown report format {', '.join(unknown) or '(none)'}; choose "
                          f"from {', '.join(FORMATS)}")
    if file_timeout_s is not None and not (isinstance(file_timeout_s, int | float)
                                           and 0 < file_timeout_s < math.inf):
        raise PkdoseError(f"the time budget per file must be a positive number of seconds, "
                          f"got {file_timeout_s!r}", option="file_timeout_s")
    purposes = parse_against(against) if against else None
    if variation is not None:
        from pkdose.population import load_population

        load_population(variation.population)  # bad usage, not a failure of every file
    pages = {"html": "report.html", "csv": "metrics.csv", "json": "metrics.json",
             "md": "report.md"}
    out = OutputFolder(out_dir, MANIFEST, "pkdose report", last=PAGES)
    out.check([pages[f] for f in fmts])  # before the batch runs, not after
    files, failed = expand_paths(paths)
    # Shown on stderr and in every output: names and reasons (which may quote a name) on
    # one line, control characters escaped.
    result = ReportResult(failed=[(printable(p), printable(r)) for p, r in failed])
    entries: list[_Entry] = []
    taken: set[str] = set()
    reports = _report_files(files, progress, file_timeout_s, variation)
    for path, rep in zip(files, reports, strict=True):
        result.failed += [(printable(where), printable(reason)) for where, reason in rep.failed]
        entries += [replace(e, regimen_id=_unique(e.regimen_id, taken),
                            source_file=printable(e.source_file)) for e in rep.entries]
        if not rep.failed:
            result.ok.append(path)
    if not entries:
        reasons = "; ".join(f"{p}: {r}" for p, r in result.failed) or "no input"
        raise PkdoseError(f"no readable regimen to report ({reasons})")
    placed = None
    if purposes is not None:
        # Regimen ids stand in for the regimen text so duplicates stay apart.
        table = pd.DataFrame([e.row for e in entries]).reset_index(drop=True)
        table["regimen"] = [e.regimen_id for e in entries]
        placed = place(ExposureTable(table), purposes)
    with out:
        drawn, figures = _figures(entries, placed, out, result.failed)
        if not drawn:
            reasons = "; ".join(f"{p}: {r}" for p, r in result.failed)
            raise PkdoseError(f"no readable regimen to report ({reasons})")
        kept = {e.regimen_id for e in drawn}
        lost = {e.source_file for e in entries if e.regimen_id not in kept}
        result.ok = [p for p in result.ok if printable(p) not in lost]
        entries = drawn
        generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        rows = metric_rows(entries, placed)
        if "html" in fmts:
            out.write_text(pages["html"], render_html(entries, result.failed, placed, figures,
                                                      command, generated))
        if "csv" in fmts:
            df = pd.DataFrame(rows, columns=list(COLUMNS))
            df["value"] = [_csv_value(v) for v in df["value"]]
            out.write_text(pages["csv"], df.to_csv(index=False, lineterminator="\n"))
        if "json" in fmts:
            out.write_text(pages["json"], json_text(
                command=command, failed=[{"path": p, "reason": r} for p, r in result.failed],
                warnings=[{"regimen_id": e.regimen_id, "message": w}
                          for e in entries for w in e.warnings], rows=rows))
        if "md" in fmts:
            out.write_text(pages["md"], render_md(entries, result.failed, placed, command,
                                                  generated))
        final = {rel: path for rel, path in zip(out.written, out.commit(), strict=True)}
    result.files = ([final[pages[f]] for f in FORMATS if f in fmts] + [final["figures/overlay.png"]]
                    + [final[f"figures/{e.regimen_id}.png"] for e in entries])
    return result


def _csv_value(v: object) -> str:
    if v is None:
        return ""
    return f"{v:.10g}" if isinstance(v, float) else str(v)
