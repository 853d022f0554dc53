"""The campaign's standard plots: each output against each varied parameter.

Why this module exists: the first look at a parameter study is its outputs (saving, rounds,
seconds, gap) against each parameter varied. Each PNG (``plots/<output>-vs-<key>.png``) draws
one line per combination of the other varied parameters (at most :data:`MAX_LINES`; beyond,
every trial as a point): the mean over repetitions, with the spread (min to max) as a band.
Trials that did not end with a negotiation (failed, refused, crashed) are left out.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ptn.campaign.rows import OUTPUTS, PLOTTED
from ptn.campaign.store import ENDED

MAX_LINES = 8


def file_name(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in key)


def draw(frame: pd.DataFrame, varied: tuple[str, ...], folder: Path) -> list[Path]:
    """The standard plots of a campaign's table; the paths written."""
    ended = frame[frame["status"].isin(ENDED[:2])]
    paths: list[Path] = []
    if ended.empty:
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    for key in varied:
        if key not in ended or ended[key].nunique(dropna=True) < 2:
            continue
        for output in PLOTTED:
            values = pd.to_numeric(ended[output], errors="coerce")
            if not values.map(math.isfinite).any():
                continue
            path = folder / f"{output}-vs-{file_name(key)}.png"
            plot_one(ended.assign(**{output: values}), key, output,
                     [k for k in varied if k != key and k in ended], path)
            paths.append(path)
    return paths


def plot_one(frame: pd.DataFrame, key: str, output: str, others: list[str],
             path: Path) -> None:
    numeric = pd.api.types.is_numeric_dtype(frame[key])
    positions = None if numeric else {v: i for i, v in
                                      enumerate(sorted(frame[key].astype(str).unique()))}

    def x_of(values: pd.Series) -> pd.Series:
        return values.astype(float) if positions is None else values.astype(str).map(positions)

    figure = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(figure)  # no pyplot state: campaigns draw from worker threads too
    axes = figure.add_subplot()
    groups = list(frame.groupby(others, dropna=False)) if others else [((), frame)]
    if len(groups) > MAX_LINES:
        axes.scatter(x_of(frame[key]), frame[output], s=12, alpha=0.7)
    else:
        for label, group in groups:
            stats = group.groupby(key)[output].agg(["mean", "min", "max"]).reset_index()
            x = x_of(stats[key])
            name = ", ".join(f"{k}={v}" for k, v in zip(others, (
                label if isinstance(label, tuple) else (label,)), strict=False)) or "mean"
            line = axes.plot(x, stats["mean"], marker="o", label=name)[0]
            axes.fill_between(x, stats["min"], stats["max"], alpha=0.2,
                              color=line.get_color())
        if others:
            axes.legend(fontsize="small")
    if positions is not None:
        axes.set_xticks(list(positions.values()), list(positions))
    axes.set_xlabel(key)
    axes.set_ylabel(f"{output} ({OUTPUTS[output]})")
    axes.set_title(f"{output} against {key} (mean, band: min–max over repetitions)",
                   fontsize="medium")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
