"""``ptn sweep CAMPAIGN.toml``: a campaign of negotiations from the command line.

Why this module exists: the command is a thin shell over :func:`ptn.api.sweep`: options,
a live progress display on a terminal (plain timestamped lines otherwise, for logs), a
one-line error for invalid input, and an exit code saying whether every trial ended.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ptn.engines.errors import InvalidInputError

if TYPE_CHECKING:
    from ptn.campaign.progress import CampaignCounts


@contextmanager
def progress_display(live: bool) -> Iterator[Callable[[CampaignCounts], None]]:
    """A rich progress bar on a terminal; plain timestamped lines on stderr otherwise."""
    from ptn.campaign.progress import plain_printer

    if not live:
        yield plain_printer(lambda line: typer.echo(line, err=True))
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("[bold]{task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), console=Console(stderr=True)) as bar:
        task = bar.add_task("", total=None, name="campaign")

        def show(counts: CampaignCounts) -> None:
            eta = counts.eta_s()
            bar.update(task, total=counts.total, completed=counts.done + counts.failed,
                       name=counts.name,
                       description=f"{counts.done} done, {counts.failed} failed, "
                                   f"{counts.running} running, ETA "
                                   + ("—" if eta != eta else f"{eta:.0f} s"))

        yield show


def sweep(
    campaign: Annotated[Path, typer.Argument(help="the campaign file (.toml): a base scenario "
                                                  "and the parameters to vary")],
    out: Annotated[
        Path | None, typer.Option(help="campaign folder (default: results/<campaign name>); "
                                       "trials finished there are kept (resume)")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="trials at once (default: the file's, else ray: the "
                                      "cluster's CPUs, inproc: 1)")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="ray (each trial's operators as actors in their own "
                                      "placement group), ray-tasks (each trial a Ray task, "
                                      "for small trials) or inproc (default: the file's)")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="join this Ray cluster (e.g. auto) instead of "
                                      "starting one")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="start afresh in a folder of a changed campaign (its rows "
                                "are set aside)")
    ] = False,
    metrics_port: Annotated[
        int | None, typer.Option(help="serve the campaign's Prometheus metrics on this port")
    ] = None,
    placement: Annotated[
        Path | None, typer.Option(help="a TOML file whose [placement] table replaces the "
                                       "base scenario's")
    ] = None,
) -> None:
    """Run a campaign: one negotiation per trial, one row each in campaign.parquet/.csv."""
    from ptn.api import sweep as run_sweep
    from ptn.cli.app import fail

    try:
        with progress_display(sys.stderr.isatty()) as show:
            table = run_sweep(campaign, out=out, concurrency=concurrency, backend=backend,
                              ray_address=ray_address, force=force, metrics_port=metrics_port,
                              placement=placement, progress=show)
    except InvalidInputError as error:
        fail(str(error))
        return
    counts = table["status"].value_counts().to_dict()
    folder = table.attrs.get("folder", out)
    typer.echo(f"{len(table)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items())
               + f"\ntable: {folder}/campaign.parquet (and .csv)")
    if set(counts) - {"converged", "not_converged"}:
        raise typer.Exit(1)
