"""How a negotiation's seconds and rounds grow with the city: road network, feeders, stations,
periods.

Why this exists: issue 18 asks how the city-scale game and its joint-ADMM variant scale, as a
table and a log-log plot in docs/benchmarks.md, and what a larger cluster would give. Each point
is one whole ``ptn run`` process (in-process backend, no centralized reference: its time is the
reference's, not the negotiation's) on a scenario written by :mod:`bench.city_scenario`'s rule,
varying one dimension at a time around a base point; its wall time, the negotiation's own
seconds and rounds (summary.json), the status and the peak memory are recorded. A point that
runs past ``--budget-s`` is stopped and recorded as over budget (a lower bound on its time).

Run (``$PTN_TNTP_DIR`` or ``--tntp`` holds the networks; Berlin's are in the whole TNTP
collection, not in CI's data)::

    python -m bench.city_scale --mechanism admm --tntp /work/tntp_all
    python -m bench.city_scale --mechanism pricing --tntp /work/tntp_all --budget-s 1800
    python -m bench.city_scale --mechanism pricing --no-certificate --tntp /work/tntp_all

writes ``bench/results/city_scale_<mechanism>.{md,json}`` and the log-log plot
``bench/results/city_scale_<mechanism>.png``; ``--only`` picks dimensions
(``network,feeders,stations,periods``); ``--no-certificate`` plays the pricing game without its
ε certificate (the game's own scaling; the city's certificate is measured by
:mod:`bench.city_game`) and writes ``city_scale_pricing_game.*``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.city_scenario import city_layout, scenario_text

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"

#: the base point of every sweep: the issue's city (Chicago Sketch, 20 feeders, 100 stations
#: of 50 CNOs, four 6-hour periods)
BASE = {"network": "ChicagoSketch", "feeders": 20, "stations": 100, "periods": 4}
#: each dimension's values (the others at the base point); road networks by node count: Sioux
#: Falls 24, Berlin-Friedrichshain 224, Berlin-Mitte-Center 398, Chicago Sketch 933
SWEEPS: dict[str, list[Any]] = {
    "network": ["SiouxFalls", "Berlin-Friedrichshain", "Berlin-Mitte-Center", "ChicagoSketch"],
    "feeders": [5, 10, 20],
    "stations": [25, 50, 100],
    "periods": [2, 4, 8],
}
#: the network sweep's stations and feeders (Sioux Falls has 24 nodes)
NETWORK_SWEEP_SIZE = {"stations": 20, "feeders": 4}


@dataclass
class Point:
    """One measured run."""

    dimension: str
    network: str
    nodes: int
    feeders: int
    stations: int
    cnos: int
    periods: int
    status: str
    rounds: int | None
    negotiation_s: float | None
    wall_s: float
    peak_rss_mb: float
    note: str = ""


def _network_dir(tntp: Path, name: str) -> Path:
    for candidate in (tntp / name, tntp / name.replace("ChicagoSketch", "Chicago-Sketch")):
        if candidate.is_dir():
            return candidate
    raise SystemExit(f"no TNTP directory {name!r} under {tntp}")


def run_point(dimension: str, size: dict[str, Any], *, mechanism: str, tntp: Path,
              budget_s: float, workdir: Path, certificate: bool = True) -> Point:
    """One ``ptn run`` process on the scenario of ``size``."""
    directory = _network_dir(tntp, size["network"])
    cnos = max(1, size["stations"] // 2)
    layout = city_layout(directory, stations=size["stations"], feeders=size["feeders"],
                         cnos=cnos)
    name = f"city-{dimension}-{size['network']}-{size['feeders']}f-{size['stations']}s-" \
           f"{size['periods']}p"
    text = scenario_text(layout, name=name, mechanism=mechanism, network=directory.name,
                         feeders=size["feeders"], periods=size["periods"])
    if not certificate:
        if "\ncertificate = true\n" not in text:
            raise SystemExit(f"{name}: the scenario has no 'certificate = true' line to turn off")
        text = text.replace("\ncertificate = true\n", "\ncertificate = false\n")
    scenario = workdir / f"{name}.toml"
    scenario.write_text(text, encoding="utf-8")
    out = workdir / name
    env = {**os.environ, "PTN_TNTP_DIR": str(directory.parent)}
    command = [sys.executable, "-m", "ptn", "run", str(scenario), "--backend", "inproc",
               "--no-reference", "--out", str(out)]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    note = ""
    while True:
        pid, _, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - start > budget_s:
            process.kill()
            pid, _, usage = os.wait4(process.pid, 0)
            note = f"stopped at the {budget_s:.0f} s budget"
            break
        time.sleep(0.5)
    wall = time.perf_counter() - start
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    if not summary and not note:
        stderr = process.stderr.read() if process.stderr else ""
        note = (stderr.strip().splitlines() or ["no summary.json"])[-1][:200]
    elif summary and summary.get("status") not in ("converged", None):
        note = str(summary.get("message", ""))[:300]  # why: the operator's own words
    return Point(dimension, size["network"], layout.nodes, size["feeders"],
                 size["stations"], cnos, size["periods"],
                 str(summary.get("status", "over budget" if note.startswith("stopped")
                                 else "failed")),
                 _rounds(summary), summary.get("seconds"), wall,
                 usage.ru_maxrss / 1024.0, note)


def _rounds(summary: dict[str, Any]) -> int | None:
    """The negotiation's rounds: ADMM's summary has them at the top, the game's per variant
    (summed: the Nash game and, if asked, the cooperative one)."""
    if "rounds" in summary:
        return int(summary["rounds"])
    variants = summary.get("variants") or {}
    return sum(int(v["rounds"]) for v in variants.values()) if variants else None


def _table(points: list[Point]) -> list[str]:
    lines = ["| dimension | network (nodes) | feeders | stations | CNOs | periods | status | "
             "rounds | negotiation s | process s | peak MB |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for p in points:
        negotiation = "" if p.negotiation_s is None else f"{p.negotiation_s:.1f}"
        lines.append(f"| {p.dimension} | {p.network} ({p.nodes}) | {p.feeders} | {p.stations} |"
                     f" {p.cnos} | {p.periods} | {p.status}{' — ' + p.note if p.note else ''} |"
                     f" {p.rounds if p.rounds is not None else ''} | {negotiation} |"
                     f" {p.wall_s:.1f} | {p.peak_rss_mb:.0f} |")
    return lines


def _plot(points: list[Point], path: Path, mechanism: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dimensions = sorted({p.dimension for p in points}, key=list(SWEEPS).index)
    figure, axes = plt.subplots(1, len(dimensions), figsize=(4 * len(dimensions), 3.6),
                                squeeze=False)
    for axis, dimension in zip(axes[0], dimensions, strict=True):
        chosen = [p for p in points if p.dimension == dimension]
        placed = [(p.nodes if dimension == "network" else getattr(p, dimension), p)
                  for p in chosen]
        # converged (or stopped at the round cap) runs joined; a run stopped at the budget is a
        # lower bound (a triangle up); a failed run has no time to show (an x on the axis)
        timed = [(x, p) for x, p in placed if p.negotiation_s is not None
                 and p.status != "failed"]
        axis.loglog([x for x, _ in timed], [p.wall_s for _, p in timed], "o-",
                    label="process s")
        over = [(x, p) for x, p in placed if p.status == "over budget"]
        if over:
            axis.loglog([x for x, _ in over], [p.wall_s for _, p in over], "^", color="C0",
                        label="stopped at the budget (lower bound)")
        failed = [x for x, p in placed if p.status == "failed"]
        if failed:
            low = min((p.wall_s for _, p in timed + over), default=1.0)
            axis.loglog(failed, [low] * len(failed), "x", color="C3", label="failed")
        done = [(x, p) for x, p in placed if p.rounds]
        if done:
            twin = axis.twinx()
            twin.plot([x for x, _ in done], [p.rounds for _, p in done], "s--", color="C1",
                      label="rounds")
            twin.set_ylabel("rounds")
            twin.set_ylim(bottom=0)
        if over or failed:
            axis.legend(fontsize=7, loc="upper left")
        axis.set_xlabel("road network nodes" if dimension == "network" else dimension)
        axis.set_ylabel("seconds (log)")
        axis.set_title(f"{mechanism}: {dimension}")
        axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mechanism", choices=("admm", "pricing"), default="admm")
    parser.add_argument("--tntp", type=Path,
                        default=Path(os.environ.get("PTN_TNTP_DIR", "../shared/data/tntp")))
    parser.add_argument("--budget-s", type=float, default=900.0)
    parser.add_argument("--only", default=",".join(SWEEPS))
    parser.add_argument("--no-certificate", action="store_true",
                        help="pricing: play the game without its certificate")
    parser.add_argument("--values", default=None,
                        help="with one --only dimension: only these of its values (comma "
                             "separated), e.g. a point to re-measure with a longer budget")
    parser.add_argument("--merge", action="store_true",
                        help="replace the measured points in the results' JSON (the others "
                             "kept) and redraw its table and plot")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw the plot from the results' JSON, run nothing")
    args = parser.parse_args()
    label = args.mechanism + ("_game" if args.no_certificate else "")
    json_path = RESULTS / f"city_scale_{label}.json"
    png_path = RESULTS / f"city_scale_{label}.png"
    if args.plot_only:
        _plot(_saved(json_path), png_path, label.replace("_", " "))
        return
    dimensions = args.only.split(",")
    unknown = [d for d in dimensions if d not in SWEEPS]
    if unknown:
        raise SystemExit(f"--only: unknown dimension(s) {unknown}; known: {list(SWEEPS)}")
    if args.values is not None and len(dimensions) != 1:
        raise SystemExit("--values needs exactly one --only dimension")
    chosen_values = None if args.values is None else [
        type(SWEEPS[dimensions[0]][0])(v) for v in args.values.split(",")]
    points: list[Point] = []
    measured: dict[tuple[Any, ...], Point] = {}  # a size met again (the base point) is reused
    earlier = _saved(json_path) if args.merge and json_path.is_file() else []
    with tempfile.TemporaryDirectory() as scratch:
        for dimension in dimensions:
            for value in chosen_values or SWEEPS[dimension]:
                size = dict(BASE, **(NETWORK_SWEEP_SIZE if dimension == "network" else {}))
                size[dimension] = value
                key = tuple(sorted(size.items()))
                if key in measured:
                    point = replace(measured[key], dimension=dimension)
                else:
                    point = run_point(dimension, size, mechanism=args.mechanism, tntp=args.tntp,
                                      budget_s=args.budget_s, workdir=Path(scratch),
                                      certificate=not args.no_certificate)
                    measured[key] = point
                points.append(point)
                print(_table([point])[-1], flush=True)
                json_path.write_text(json.dumps([asdict(p) for p in _merged(earlier, points)],
                                                indent=1))
    points = _merged(earlier, points)
    _plot(points, png_path, label.replace("_", " "))
    command = "`python -m bench.city_scale " + " ".join(sys.argv[1:]) + "`"
    md_path = RESULTS / f"city_scale_{label}.md"
    if earlier and md_path.is_file():  # the commands of the points kept, then this one
        kept = md_path.read_text(encoding="utf-8").split("\n| dimension")[0].split("\n", 2)[2]
        command = kept.strip() + "\nand, merged into it, " + command
    md_path.write_text("\n".join([f"# City scale, {label.replace('_', ' ')}", "", command, "",
                                  *_table(points), ""]), encoding="utf-8")


def _saved(path: Path) -> list[Point]:
    """The points a sweep wrote to ``path``."""
    return [Point(**row) for row in json.loads(path.read_text(encoding="utf-8"))]


def _merged(earlier: list[Point], measured: list[Point]) -> list[Point]:
    """``earlier`` with each point of ``measured`` in place of the same one (dimension and
    size), the new ones after."""
    def key(p: Point) -> tuple[Any, ...]:
        return (p.dimension, p.network, p.feeders, p.stations, p.periods)

    fresh = {key(p): p for p in measured}
    merged = [fresh.pop(key(p), p) for p in earlier]
    return merged + [p for p in measured if key(p) in fresh]


if __name__ == "__main__":
    main()
