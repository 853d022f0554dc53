"""The ``ptn`` command line.

Each command is a thin shell over an engine: it parses options, calls the engine, writes files,
and turns invalid input into a one-line error with a non-zero exit code (never a traceback).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ptn.engines.errors import InvalidInputError

if TYPE_CHECKING:
    from ptn.api import RunResult, Scenario
    from ptn.coordinator.outcome import RoundRecord

app = typer.Typer(
    name="ptn",
    help="Negotiation between power and transportation network operators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_INVALID_INPUT = 2


def _print_version(value: bool) -> None:
    if value:
        from ptn import DISTRIBUTION, __version__

        typer.echo(f"ptn {__version__} ({DISTRIBUTION})")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version,
                           help="print the version and exit")
    ] = False,
) -> None:
    """ptn: privacy-preserving coordination of power and transportation networks."""


def fail(message: str) -> None:
    """Print a one-line error to stderr and exit with the invalid-input code."""
    typer.echo(f"ptn: error: {message}", err=True)
    raise typer.Exit(EXIT_INVALID_INPUT)


def report(result: RunResult, json_summary: bool) -> None:
    """Print a negotiation's summary (its mechanism's table, or summary.json); exit 1 unless it
    converged."""
    if json_summary:
        typer.echo(json.dumps(result.summary, indent=2))
    else:
        typer.echo(result.format() + (f"\nresults: {result.folder}" if result.folder else ""))
    if not result.converged:
        typer.echo(f"ptn: {result.status}: {result.message}", err=True)
        raise typer.Exit(1)


def progress_printer(scenario: Scenario, show: bool) -> Callable[[RoundRecord], None] | None:
    """A live one-line-per-round display on stderr (when it is a terminal)."""
    if not show:
        return None
    from functools import partial

    from rich.console import Console

    from ptn.coordinator.runner import round_printer

    console = Console(stderr=True)
    console.print(f"[bold]{scenario.name}[/]: {len(scenario.document.operator_ids)} operators, "
                  f"{scenario.document.public.periods} periods, mechanism {scenario.mechanism}")
    return round_printer(scenario.document, partial(console.print, highlight=False))


def resume_folder(resume: Path | None, out: Path | None) -> Path | None:
    """Where a resumed run writes: ``--out``, else the folder of its checkpoint."""
    return out if out is not None or resume is None else Path(resume).parent


@app.command()
def assign(
    network: Annotated[
        str, typer.Option(help="'nguyen-dupuis' or the path of a TNTP network directory")
    ] = "nguyen-dupuis",
    algorithm: Annotated[
        str | None,
        typer.Option(help="UE: gradient-projection (default) or bfw; "
                          "SUE: newton (default), line-search or msa"),
    ] = None,
    gap: Annotated[float, typer.Option(help="target relative gap (TSTT-SPTT)/TSTT")] = 1e-8,
    max_iter: Annotated[int, typer.Option("--max-iter", help="iteration limit")] = 1000,
    sue_theta: Annotated[
        float | None,
        typer.Option("--sue-theta", help="logit dispersion θ: solve a stochastic UE instead"),
    ] = None,
    json_summary: Annotated[
        bool, typer.Option("--json", help="print a JSON summary on stdout")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="write link flows and costs (.csv or .parquet)")
    ] = None,
    toll_factor: Annotated[
        float | None, typer.Option(help="override the network's toll weight (time per toll unit)")
    ] = None,
    distance_factor: Annotated[
        float | None, typer.Option(help="override the network's distance weight (time per length)")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="threads for the shortest paths (default: all cores)")
    ] = None,
) -> None:
    """Traffic assignment: user equilibrium (or logit SUE) link flows of a road network."""
    from ptn.cli.process_gc import collector_paused

    try:
        # a batch job: the collector would only traverse numba's start-up objects over and over
        with collector_paused():
            from ptn.cli.assign import run_assignment

            summary = run_assignment(
                network=network,
                algorithm=algorithm,
                gap=gap,
                max_iterations=max_iter,
                sue_theta=sue_theta,
                out=out,
                toll_factor=toll_factor,
                distance_factor=distance_factor,
                threads=threads,
                show_progress=sys.stdout.isatty() and not json_summary,
            )
    except InvalidInputError as error:
        fail(str(error))
        return
    if json_summary:
        typer.echo(json.dumps(summary, indent=2))
    else:
        quality = (
            f"relative gap {summary['relative_gap']:.3e}, objective {summary['objective']:.10g}"
            if "relative_gap" in summary
            else f"SUE residual {summary['residual']:.3e} veh/h, "
            f"Fisk objective {summary['fisk_objective']:.10g}"
        )
        typer.echo(
            f"{summary['network']}: {summary['status']} after {summary['iterations']} iterations "
            f"in {summary['seconds']:.3f} s, {quality}"
        )
    if summary["status"] not in ("converged",):
        raise typer.Exit(1)


@app.command()
def opf(
    feeder: Annotated[
        str,
        typer.Option(help="case33bw, case18, case69, case85, case141, ieee30-radial; a "
                          "pandapower benchmark net (cigre_lv, cigre_mv, kerber_dorfnetz, "
                          "mv_oberrhein, ... or pandapower:FUNCTION; one feeder per supply "
                          "point); or a MATPOWER .m / pandapower .json or .p file"),
    ] = "case33bw",
    periods: Annotated[int, typer.Option(help="equal periods over one day")] = 24,
    der: Annotated[Path | None, typer.Option(help="DER case file (.toml)")] = None,
    charging: Annotated[
        Path | None, typer.Option(help="EV charging loads per period and point (.csv)")
    ] = None,
    json_summary: Annotated[
        bool, typer.Option("--json", help="print a JSON summary on stdout")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="directory for summary.json and the bus, branch and "
                                       "period tables (.csv)")
    ] = None,
    ac_check: Annotated[
        bool, typer.Option("--ac-check", help="check the dispatch with an AC power flow "
                                              "(pandapower Newton-Raphson) per period")
    ] = False,
    tariff_per_mwh: Annotated[
        float | None, typer.Option("--tariff-per-mwh",
                                   help="price ($/MWh) of purchases at a supply point whose case "
                                        "has no cost data (default 50)")
    ] = None,
) -> None:
    """Distribution OPF: multi-period DistFlow dispatch of a feeder with its DER."""
    from ptn.cli.opf import describe_opf, run_opf

    try:
        summary = run_opf(feeder=feeder, periods=periods, der=der, charging=charging, out=out,
                          ac_check=ac_check, tariff_per_mwh=tariff_per_mwh)
    except InvalidInputError as error:
        fail(str(error))
        return
    for warning in summary.get("warnings", []):
        typer.echo(f"ptn: warning: {warning}", err=True)
    typer.echo(json.dumps(summary, indent=2) if json_summary else describe_opf(summary))
    if summary["status"] not in ("optimal", "inexact"):
        raise typer.Exit(1)


@app.command()
def run(
    scenario: Annotated[
        str | None,
        typer.Argument(help="a scenario file (.toml) or built-in name "
                            "(default: nguyen-dupuis-ieee33)"),
    ] = None,
    backend: Annotated[
        str, typer.Option(help="where the operators run: ray (local Ray runtime), inproc "
                               "(this process) or grpc (one OS process each)")
    ] = "ray",
    out: Annotated[
        Path | None, typer.Option(help="results folder (default: results/<scenario name>)")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="serve Prometheus metrics on this port during the run")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="join this Ray cluster instead of starting one")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="continue from a checkpoint.json of an earlier run")
    ] = None,
    reference: Annotated[
        bool, typer.Option(help="also solve the full-information centralized reference")
    ] = True,
    show_scenario: Annotated[
        bool, typer.Option("--show-scenario", help="print the scenario's TOML and exit")
    ] = False,
    json_summary: Annotated[
        bool, typer.Option("--json", help="print summary.json on stdout")
    ] = False,
    placement: Annotated[
        Path | None, typer.Option(help="a TOML file whose \\[placement] table replaces the "
                                       "scenario's (where the operators run on Ray)")
    ] = None,
) -> None:
    """Run a coordination scenario end to end: baseline, negotiation, reference, results."""
    from ptn.api import Scenario, default_results_folder
    from ptn.api import run as run_scenario

    try:
        loaded = Scenario.load(scenario)
        if placement is not None:
            loaded = loaded.with_placement(placement)
        if show_scenario:
            typer.echo(loaded.to_toml(), nl=False)
            return
        folder = resume_folder(resume, out) or default_results_folder(loaded)
        result = run_scenario(
            loaded, backend=backend, out=folder, metrics_port=metrics_port,
            ray_address=ray_address, resume=resume, reference=reference,
            progress=progress_printer(loaded, sys.stderr.isatty() and not json_summary))
    except InvalidInputError as error:
        fail(str(error))
        return
    report(result, json_summary)


@app.command()
def study(
    scenario: Annotated[
        str, typer.Argument(help="a study scenario file (.toml) with a [study] table, e.g. "
                                 "scenarios/seed002-sue-der.toml")
    ],
    backend: Annotated[
        str, typer.Option(help="where the operators run: grpc (one OS process each), ray or "
                               "inproc")
    ] = "grpc",
    out: Annotated[
        Path | None, typer.Option(help="results folder (default: results/<scenario name>)")
    ] = None,
    periods: Annotated[
        int | None, typer.Option(help="resample the horizon to this many periods (a reduced "
                                      "horizon: the same day in fewer, longer periods)")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="join this Ray cluster instead of starting one")
    ] = None,
    json_summary: Annotated[
        bool, typer.Option("--json", help="print summary.json on stdout")
    ] = False,
) -> None:
    """Run a seed paper's study: the private negotiation, then the paper's tables and figures
    from the experimenter's full-information view."""
    from ptn.lab.studies.study import run_study

    try:
        outcome, folder = run_study(scenario, backend=backend, out=out, periods=periods,
                                    ray_address=ray_address,
                                    show_progress=sys.stderr.isatty() and not json_summary)
    except InvalidInputError as error:
        fail(str(error))
        return
    if json_summary:
        typer.echo((folder / "summary.json").read_text(encoding="utf-8"))
    else:
        typer.echo((folder / "report.md").read_text(encoding="utf-8") + f"\nresults: {folder}")
    if not outcome.ok:
        typer.echo(f"ptn: study failed: {outcome.message}", err=True)
        raise typer.Exit(1)


@app.command()
def serve(
    role: Annotated[str, typer.Argument(help="dso, traffic, tno or cno")],
    scenario: Annotated[
        str, typer.Option(help="scenario file (.toml) or built-in name; the operator reads "
                               "only its own table")
    ] = "nguyen-dupuis-ieee33",
    port: Annotated[int, typer.Option(help="gRPC port (0: any free port, printed)")] = 50051,
    host: Annotated[
        str | None, typer.Option(help="address to listen on (default: 127.0.0.1 without TLS, "
                                      "0.0.0.0 with --tls-dir)")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="serve Prometheus metrics on this port")
    ] = None,
    tls_dir: Annotated[
        Path | None, typer.Option(help="directory with server.crt, server.key (and ca.crt for "
                                       "mutual TLS), e.g. DIR/<operator id> of `ptn certs DIR`")
    ] = None,
    operator_id: Annotated[
        str | None, typer.Option(help="the operator's id in the scenario (default: the role)")
    ] = None,
    private_out: Annotated[
        Path | None, typer.Option(help="the operator's own folder: its private report (and its "
                                       "state, unless --state-dir)")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="where the operator keeps its state (state.json), "
                                       "restored when it restarts (default: --private-out)")
    ] = None,
    session_idle_s: Annotated[
        float | None, typer.Option(help="release a negotiation idle this long (seconds) so "
                                        "that another may start")
    ] = None,
    trust: Annotated[
        str, typer.Option(help="the certificate identity (SAN URI) allowed to negotiate, under "
                               "mutual TLS")
    ] = "ptn://coordinator",
    token_file: Annotated[
        Path | None, typer.Option(help="a file holding a bearer token every negotiation call "
                                       "must carry (authorization: Bearer <token>)")
    ] = None,
    max_concurrent: Annotated[
        int, typer.Option(help="model calls admitted at once; more are refused with "
                               "RESOURCE_EXHAUSTED")
    ] = 8,
    health_port: Annotated[
        int | None, typer.Option(help="also answer gRPC health checks on this plaintext port "
                                      "(for Kubernetes probes of a TLS operator); negotiation "
                                      "calls there are refused")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="log every request")] = False,
    periods: Annotated[
        int | None, typer.Option(help="resample the scenario's horizon to this many periods "
                                      "(as the coordinator's --periods)")
    ] = None,
) -> None:
    """Serve one operator over gRPC (with gRPC health and optional Prometheus metrics)."""
    from ptn.services.serving import serve as serve_operator

    configure_logging(verbose)
    try:
        serve_operator(role, scenario, port=port, host=host, metrics_port=metrics_port,
                       tls_dir=tls_dir, operator_id=operator_id, private_out=private_out,
                       periods=periods, state_dir=state_dir, session_idle_s=session_idle_s,
                       trust=trust, token_file=token_file, max_concurrent=max_concurrent,
                       health_port=health_port)
    except InvalidInputError as error:
        fail(str(error))


@app.command()
def certs(
    directory: Annotated[Path, typer.Argument(help="where to write the CA and the parties' "
                                                   "folders")],
    operator: Annotated[
        list[str] | None, typer.Option(help="an operator to certify as ID or ID=ROLE (repeat)")
    ] = None,
    scenario: Annotated[
        str | None, typer.Option(help="certify every operator of this scenario")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="replace an existing CA (every party needs new certificates)")
    ] = False,
    reuse_ca: Annotated[
        bool, typer.Option(help="issue with the CA already in DIRECTORY (add operators)")
    ] = False,
    days: Annotated[int, typer.Option(help="validity of the certificates in days")] = 365,
) -> None:
    """Make a CA and mutual-TLS certificates for a test deployment: DIRECTORY/coordinator
    (ptn://coordinator) and DIRECTORY/<operator id> (ptn://operator/<id>) for each operator."""
    from ptn.cli.certs import make_deployment_certificates

    try:
        lines = make_deployment_certificates(directory, operator or [], scenario, force=force,
                                             reuse_ca=reuse_ca, days=days)
    except InvalidInputError as error:
        fail(str(error))
        return
    typer.echo("\n".join(lines))


@app.command()
def coordinate(
    scenario: Annotated[
        str, typer.Option(help="scenario file (.toml) or built-in name; the coordinator reads "
                               "[scenario] and [coordinator]")
    ] = "nguyen-dupuis-ieee33",
    endpoint: Annotated[
        list[str] | None, typer.Option(help="an operator as ID=HOST:PORT (repeat per operator)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="results folder (default: results/<scenario name>)")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="serve Prometheus metrics on this port")
    ] = None,
    tls_dir: Annotated[
        Path | None, typer.Option(help="directory with ca.crt (and client.crt, client.key for "
                                       "mutual TLS), e.g. DIR/coordinator of `ptn certs DIR`; "
                                       "each operator must present its own certificate")
    ] = None,
    token_dir: Annotated[
        Path | None, typer.Option(help="directory with <operator id>.token: the bearer token "
                                       "sent to each operator")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="continue from a checkpoint.json of an earlier run")
    ] = None,
    reference: Annotated[
        bool, typer.Option(help="also solve the centralized reference (reads every table of "
                                "the scenario file: experiments only)")
    ] = False,
    json_summary: Annotated[
        bool, typer.Option("--json", help="print summary.json on stdout")
    ] = False,
) -> None:
    """Drive remote operators (``ptn serve``) through a scenario's negotiation."""
    from ptn.api import Scenario, default_results_folder
    from ptn.api import coordinate as coordinate_operators
    from ptn.coordinator.runtime.transports import CallFailedError

    try:
        loaded = Scenario.load(scenario)
        folder = resume_folder(resume, out) or default_results_folder(loaded)
        result = coordinate_operators(
            loaded, endpoint or [], out=folder,
            reference=reference, resume=resume, metrics_port=metrics_port, tls_dir=tls_dir,
            progress=progress_printer(loaded, sys.stderr.isatty() and not json_summary),
            token_dir=token_dir)
    except InvalidInputError as error:
        fail(str(error))
        return
    except CallFailedError as error:  # e.g. an operator presenting another's certificate
        typer.echo(f"ptn: operator {error.operator_id} failed: {error.reason}: {error.detail}",
                   err=True)
        raise typer.Exit(1) from None
    report(result, json_summary)


def register_commands() -> None:
    """Commands kept in modules of their own."""
    from ptn.cli.sweep import sweep

    app.command()(sweep)


def configure_logging(verbose: bool = False) -> None:
    """Log to stderr: warnings, or every request with ``verbose``."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


register_commands()

if __name__ == "__main__":  # pragma: no cover
    app()
