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

from ptn.coordinator.results.index_page import SUMMARY_FILE
from ptn.engines.errors import InvalidInputError

if TYPE_CHECKING:
    from ptn.api import RunResult, Scenario
    from ptn.coordinator.outcome import RoundRecord
    from ptn.lab.progress_log import ProgressLog

#: ``ptn --help``: what the built-in scenarios (the seed papers' models) are, in words
HELP = """Negotiation between power and transportation network operators.

Operators (a distribution system operator, a traffic department, a transit network operator,
charging network operators) keep their models private and exchange only prices, offers and
station loads through a coordinator. The built-in scenarios reproduce four seed papers
(their models: MODELS.md, sections 3 to 5):

\b
  seed 000  profit-sharing-seed000: two-stage profit sharing between a distribution network
            operator (DNO) and a transit network operator (TNO) over electric bus charging
  seed 001  pricing-seed001: the DSO prices the energy it sells to charging stations and the
            charging network operators (CNOs) play a Nash price game
  seed 002  seed002-sue-der: joint minimum-cost traffic-power coordination by ADMM, logit
            stochastic traffic equilibrium and the feeder's DER (`ptn study`)
  seed 003  seed003-siouxfalls-ieee30: joint minimum-cost coordination by ADMM, its saving
            against the uncoordinated baseline and the EV hosting capacity (`ptn study`)

The default scenario (nguyen-dupuis-ieee33) is a small joint coordination of the seed 002/003
kind. Start with `ptn run`; `ptn run NAME --show-scenario` prints a scenario to copy and edit.
"""

app = typer.Typer(
    name="ptn",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: rich markup would swallow bracketed words ("reads [scenario] and ...") and
    # show flags as "--json <bool>"
    rich_markup_mode=None,
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


def progress_printer(scenario: Scenario, log: ProgressLog | None
                     ) -> Callable[[RoundRecord], None] | None:
    """One line per round on ``log`` (none without one)."""
    return None if log is None else log.rounds(scenario.document)


def resume_folder(resume: Path | None, out: Path | None) -> Path | None:
    """Where a resumed run writes: ``--out``, else the folder of its checkpoint."""
    return out if out is not None or resume is None else Path(resume).parent


def results_folder_for(scenario: Scenario, out: Path | None, resume: Path | None,
                       force: bool) -> Path:
    """Where a run writes: ``--out``; else the folder of the ``--resume`` checkpoint; else
    ``results/<scenario name>``, or, when that holds results and no ``--force``, a new
    timestamped folder beside it (said on stderr)."""
    from ptn.api import default_results_folder
    from ptn.lab.run_folder import free_default_folder

    chosen = resume_folder(resume, out)
    if chosen is not None:
        return chosen
    default = default_results_folder(scenario)
    if force:
        return default
    folder = free_default_folder(default)
    if folder != default:
        typer.echo(f"ptn: {default} holds results; this run writes to {folder} (--out names "
                   "a folder, --force replaces)", err=True)
    return folder


#: the options every negotiating command shares
FORCE_HELP = ("replace the results a non-empty --out folder holds (only once this run "
              "succeeds: a failed run is written beside them)")
QUIET_HELP = ("no progress on stderr (otherwise: live on a terminal, one timestamped line per "
              "step and round in a pipe or log)")


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
        Path | None, typer.Option(help="write link flows and costs (.csv or .parquet); an "
                                       "existing file is refused unless --force")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing --out file "
                                                        "(once the assignment is solved)")
                     ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress on stderr (otherwise: a "
                                                        "bar on a terminal, timestamped lines "
                                                        "in a pipe or log)")] = False,
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
                show_progress=False if quiet else "live" if sys.stderr.isatty() else "plain",
                force=force,
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
        Path | None, typer.Option(help="EV charging loads (MW) per period and charging point "
                                       "(.csv): wide (period,<point>,...) or the long "
                                       "loads.csv of ptn run (station,period,<load column>)")
    ] = None,
    charging_column: Annotated[
        str | None, typer.Option(help="the load column of a long --charging file (default: "
                                      "load_mw, else agreed_load_mw)")
    ] = None,
    bus_load_profiles: Annotated[
        Path | None, typer.Option(help="per-bus load shapes (.csv or .parquet): multipliers of "
                                       "each listed bus's load per period, long "
                                       "(feeder,bus,period,multiplier) or wide "
                                       "(feeder,bus,p0,p1,...); the other buses follow the "
                                       "load profile")
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
    list_buses: Annotated[
        bool, typer.Option("--list-buses", help="list the feeder's buses with their nominal "
                                                "loads (MW, MVAr), voltage limits and the "
                                                "--der file's devices, and exit (a table, or "
                                                "JSON with --json)")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="replace the files a non-empty --out "
                                                        "folder holds (only when this solve "
                                                        "succeeds)")] = False,
) -> None:
    """Distribution OPF: multi-period DistFlow dispatch of a feeder with its DER.

    --out DIR gets summary.json, buses.csv, branches.csv, periods.csv and manifest.json; a
    non-empty DIR is refused unless --force.
    """
    from ptn.cli.opf import describe_opf, run_opf
    from ptn.cli.opf import list_buses as feeder_buses

    try:
        if list_buses:
            from ptn.cli.feeder_buses import format_bus_table

            rows = feeder_buses(feeder=feeder, periods=periods, der=der)
            typer.echo(json.dumps(rows, indent=2) if json_summary else format_bus_table(rows))
            return
        summary = run_opf(feeder=feeder, periods=periods, der=der, charging=charging, out=out,
                          ac_check=ac_check, tariff_per_mwh=tariff_per_mwh, force=force,
                          charging_column=charging_column, bus_load_profiles=bus_load_profiles)
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
        Path | None, typer.Option(help="a TOML file whose [placement] table replaces the "
                                       "scenario's (where the operators run on Ray)")
    ] = None,
    periods: Annotated[
        int | None, typer.Option(help="resample the scenario's day to this many periods (fewer, "
                                      "longer ones: a quick test), as ptn serve/study "
                                      "--periods")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help=QUIET_HELP)] = False,
) -> None:
    """Run a coordination scenario end to end: baseline, negotiation, reference, results.

    The results folder (--out, default results/<scenario name>) gets summary.json, tables,
    plots, the transcript, the checkpoint and manifest.json (scenario fingerprint, versions,
    command, times, status). A non-empty --out is refused unless --force or --resume of its
    own checkpoint; a taken default folder gives way to results/<name>-<UTC time>.
    """
    from ptn.api import Scenario
    from ptn.api import run as run_scenario
    from ptn.lab.progress_log import progress_log

    try:
        loaded = Scenario.load(scenario, periods=periods)
        if placement is not None:
            loaded = loaded.with_placement(placement)
        if show_scenario:
            if periods is not None:  # the text is the scenario's own: say how it was run
                typer.echo(f"# shown with --periods {periods}: this file keeps the scenario's "
                           f"own day; run and serve it with --periods {periods} for the same")
            typer.echo(loaded.to_toml(), nl=False)
            return
        log = progress_log(not quiet)
        result = run_scenario(
            loaded, backend=backend, out=results_folder_for(loaded, out, resume, force),
            metrics_port=metrics_port, ray_address=ray_address, resume=resume,
            reference=reference, force=force, log=log, progress=progress_printer(loaded, log))
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
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help=QUIET_HELP)] = False,
) -> None:
    """Run a seed paper's study: the private negotiation, then the paper's tables and figures
    from the experimenter's full-information view.

    A non-empty --out is refused unless --force; a taken default folder gives way to
    results/<name>-<UTC time>; every folder gets manifest.json.
    """
    from ptn.lab.progress_log import progress_log
    from ptn.lab.studies.study import run_study

    try:
        outcome, folder = run_study(scenario, backend=backend, out=out, periods=periods,
                                    ray_address=ray_address, force=force,
                                    log=progress_log(not quiet))
    except InvalidInputError as error:
        fail(str(error))
        return
    if json_summary:
        typer.echo((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
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
                                      "(the coordinator must use the same: ptn coordinate "
                                      "--periods)")
    ] = None,
) -> None:
    """Serve one operator over gRPC (with gRPC health and optional Prometheus metrics).

    Without --operator-id the operator is the scenario's only one of ROLE (e.g. cno in a
    scenario with one CNO); a scenario with several names them.
    """
    from ptn.services.serving import serve as serve_operator

    configure_logging(verbose)
    try:
        if operator_id is None:
            operator_id = operator_of_role(role, scenario)
        serve_operator(role, scenario, port=port, host=host, metrics_port=metrics_port,
                       tls_dir=tls_dir, operator_id=operator_id, private_out=private_out,
                       periods=periods, state_dir=state_dir, session_idle_s=session_idle_s,
                       trust=trust, token_file=token_file, max_concurrent=max_concurrent,
                       health_port=health_port)
    except InvalidInputError as error:
        fail(str(error))


#: a built-in scenario with an operator of each role (for a message naming one)
SCENARIOS_WITH_ROLE = {"dso": "nguyen-dupuis-ieee33", "traffic": "nguyen-dupuis-ieee33",
                       "tno": "profit-sharing-seed000", "cno": "pricing-seed001"}


def operator_of_role(role: str, scenario: str) -> str | None:
    """The scenario's one operator of ``role`` (None: leave it to the role's own id and the
    server's checks); several are refused naming them and ``--operator-id``."""
    from ptn.scenario.document import load_scenario

    loaded = load_scenario(scenario)
    ids = [i for i in loaded.operator_ids if loaded.part(i).role == role]
    if not ids and role in SCENARIOS_WITH_ROLE:
        raise InvalidInputError(
            f"{scenario}: no {role} operator (its operators: {some(loaded.operator_ids)}); a "
            f"scenario with one: ptn run {SCENARIOS_WITH_ROLE[role]} --show-scenario > "
            f"{role}-scenario.toml")
    if role in ids or not ids:
        return None
    if len(ids) == 1:
        return ids[0]
    raise InvalidInputError(f"{scenario}: {len(ids)} operators are {role}s ({some(ids)}): "
                            "choose one with --operator-id")


def some(names: tuple[str, ...] | list[str], shown: int = 6) -> str:
    """The first names of a list, and how many more."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


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
                               "its [scenario] and [coordinator] tables")
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
    periods: Annotated[
        int | None, typer.Option(help="resample the scenario's day to this many periods (each "
                                      "operator served with the same ptn serve --periods)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help=QUIET_HELP)] = False,
) -> None:
    """Drive remote operators (ptn serve) through a scenario's negotiation.

    Results folder as ptn run's: a non-empty --out is refused unless --force or --resume of
    its own checkpoint; every folder gets manifest.json.
    """
    from ptn.api import Scenario
    from ptn.api import coordinate as coordinate_operators
    from ptn.coordinator.runtime.transports import CallFailedError
    from ptn.lab.progress_log import progress_log

    try:
        loaded = Scenario.load(scenario, periods=periods)
        log = progress_log(not quiet)
        result = coordinate_operators(
            loaded, endpoint or [], out=results_folder_for(loaded, out, resume, force),
            reference=reference, resume=resume, metrics_port=metrics_port, tls_dir=tls_dir,
            progress=progress_printer(loaded, log), token_dir=token_dir, force=force,
            log=log)
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
    from ptn.cli.privacy import privacy_app
    from ptn.cli.scenario import scenario_app
    from ptn.cli.sweep import sweep

    app.command()(sweep)
    app.add_typer(scenario_app, name="scenario")
    app.add_typer(privacy_app, name="privacy")


def configure_logging(verbose: bool = False) -> None:
    """Log to stderr: warnings, or every request with ``verbose``."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


register_commands()

if __name__ == "__main__":  # pragma: no cover
    app()
