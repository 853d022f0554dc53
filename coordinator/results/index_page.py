"""``index.html``: a results folder's summary and every figure on one page, opened offline.

Why this module exists: a results folder holds a dozen files (summary, tables, figures, the
operators' own reports in sub-folders); a researcher wants to see them at once without ptn, a
notebook or a network connection. The page is plain HTML and CSS (no script, no web font, no
external link): ``summary.json`` as a table (nested objects as dotted keys, lists of records as
their own tables), every PNG under the folder (relative links, so the folder can be moved or
zipped), and links to the other files (CSV, Markdown, JSON). Writing it again after more
figures were added (a study's own, an operator's report) lists those too.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ptn.engines.errors import InvalidInputError

INDEX_FILE = "index.html"
SUMMARY_FILE = "summary.json"
#: files linked under "other files" (figures are shown, the page itself is not listed)
LINKED_SUFFIXES = (".csv", ".md", ".json", ".toml", ".parquet", ".txt")

#: what a figure shows, by the start of its file name (the longest match wins)
CAPTIONS = {
    "convergence": "ADMM residuals per round against the tolerance, and the penalty ρ",
    "prices": "agreed price per station and period ($/MWh), baseline tariff dashed",
    "station_loads": "agreed charging load per station (MW): one panel per station",
    "cost_comparison": "cost over the horizon ($): baseline, agreement, centralized reference",
    "station_prices": "agreed price by station and period ($/MWh): the DLMP at its bus",
    "fig5_convergence": "seed 001 Figure 5: relative changes of prices and loads per round",
    "fig6_mean_prices": "seed 001 Figure 6: mean DSO and charging prices per round ($/MWh)",
    "fig7_revenues": "seed 001 Figure 7: revenues per round ($)",
    "dno_cost": "the DNO's cost against the profit share ρ ($)",
    "tno_benefit": "the TNO's benefit against the profit share ρ ($)",
    "load_shift": "station loads per period (MW), prescheduled and at ρ*",
    "road_flows": "full information: link flows (veh/h) and volume/capacity on the road map",
    "feeder": "full information: the feeder's one-line diagram, bus voltages (p.u.)",
    "bus_dlmps": "full information: DLMPs by bus and period ($/MWh)",
    "power_balance": "supply and demand per period (MW), losses and storage included",
    "voltage_difference": "voltage change by coordination, by bus and period (% of nominal)",
    "voltages": "the DSO's own report: bus voltages by period (p.u.)",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
           gap: 1rem; }
figure { margin: 0; border: 1px solid #ddd; padding: 0.5rem; background: #fff; }
figure img { width: 100%; height: auto; }
figcaption { font-size: 0.85rem; color: #555; }
"""


def write_index_page(folder: Path, title: str | None = None) -> Path:
    """Write ``folder/index.html`` from what the folder holds now; its path.

    ``title`` defaults to the summary's scenario and mechanism, else the folder's name. A
    ``summary.json`` that is not a JSON object is an :class:`InvalidInputError` naming it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError(f"{folder}: not a results folder (no such directory)")
    summary = read_summary(folder)
    page = render_index_page(folder, summary, title or page_title(folder, summary))
    path = folder / INDEX_FILE
    path.write_text(page, encoding="utf-8")
    return path


def read_summary(folder: Path) -> dict[str, Any] | None:
    """The folder's ``summary.json`` as a dict (None without one)."""
    path = folder / SUMMARY_FILE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"{path}: not JSON ({error})") from error
    if not isinstance(value, dict):
        raise InvalidInputError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def page_title(folder: Path, summary: dict[str, Any] | None) -> str:
    """``<scenario> — <mechanism or study kind>`` from the summary, else the folder's name."""
    if not summary:
        return folder.name
    name = summary.get("scenario") or summary.get("negotiation_id") or folder.name
    kind = summary.get("mechanism") or summary.get("kind")
    return f"{name} — {kind}" if kind else str(name)


def figure_paths(folder: Path) -> list[Path]:
    """Every PNG under ``folder``, relative to it: the folder's own first, then sub-folders'."""
    found = [path.relative_to(folder) for path in folder.rglob("*.png") if path.is_file()]
    return sorted(found, key=lambda path: (len(path.parts), path.as_posix()))


def other_files(folder: Path) -> list[Path]:
    """The files linked (tables, reports, manifests), relative to ``folder``."""
    found = [path.relative_to(folder) for path in folder.rglob("*")
             if path.is_file() and path.suffix in LINKED_SUFFIXES]
    return sorted(found, key=lambda path: (len(path.parts), path.as_posix()))


def render_index_page(folder: Path, summary: dict[str, Any] | None, title: str) -> str:
    """The page's HTML (see the module docstring)."""
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{_text(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
             f"<h1>{_text(title)}</h1>"]
    parts.append("<h2>Summary</h2>")
    if summary is None:
        parts.append("<p>No summary.json in this folder.</p>")
    else:
        parts += list(_summary_tables(summary))
    figures = figure_paths(folder)
    parts.append(f"<h2>Figures ({len(figures)})</h2>")
    if figures:
        parts.append('<div class="figures">')
        for path in figures:
            link = _link(path)
            parts.append(f'<figure><a href="{link}"><img src="{link}" '
                         f'alt="{_text(path.as_posix())}"></a>'
                         f"<figcaption><b>{_text(path.as_posix())}</b>{caption(path)}"
                         "</figcaption></figure>")
        parts.append("</div>")
    else:
        parts.append("<p>No figures.</p>")
    files = other_files(folder)
    if files:
        parts.append("<h2>Files</h2>")
        parts.append("<ul>" + "".join(f'<li><a href="{_link(path)}">{_text(path.as_posix())}'
                                      "</a></li>" for path in files) + "</ul>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def caption(path: Path) -> str:
    """`` — what the figure shows`` for a known figure name, else nothing."""
    known = [key for key in CAPTIONS if path.name.startswith(key)]
    return f" — {_text(CAPTIONS[max(known, key=len)])}" if known else ""


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of nested objects; lists of scalars stay lists; lists of objects
    are yielded whole (drawn as their own tables)."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _summary_tables(summary: dict[str, Any]) -> Iterator[str]:
    scalars: list[tuple[str, Any]] = []
    records: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in flatten(summary):
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            records.append((key, value))
        else:
            scalars.append((key, value))
    yield '<table class="summary"><tr><th>key</th><th>value</th></tr>'
    for key, value in scalars:
        yield f"<tr><th>{_text(key)}</th>{_cell(value)}</tr>"
    yield "</table>"
    for key, rows in records:
        columns: list[str] = []
        flat_rows = [dict(flatten(row)) for row in rows]
        for row in flat_rows:
            columns += [column for column in row if column not in columns]
        yield f"<h3>{_text(key)}</h3>"
        yield "<table><tr>" + "".join(f"<th>{_text(c)}</th>" for c in columns) + "</tr>"
        for row in flat_rows:
            yield "<tr>" + "".join(_cell(row.get(column)) for column in columns) + "</tr>"
        yield "</table>"


def _cell(value: Any) -> str:
    if value is None:
        return "<td>—</td>"
    if isinstance(value, bool):
        return f"<td>{str(value).lower()}</td>"
    if isinstance(value, int | float):
        shown = f"{value:,}" if isinstance(value, int) else f"{value:,.6g}"
        return f'<td class="number">{shown}</td>'
    if isinstance(value, list):
        shown = ", ".join(v if isinstance(v, str) else json.dumps(v) for v in value)
        return f"<td>{_text(shown)}</td>"
    if isinstance(value, dict):
        return "<td>{}</td>"
    return f"<td>{_text(str(value))}</td>"


def _text(value: str) -> str:
    return html.escape(value, quote=True)


def _link(path: Path) -> str:
    """A relative URL of a path inside the folder (each part percent-encoded)."""
    return "/".join(quote(part) for part in path.parts)
