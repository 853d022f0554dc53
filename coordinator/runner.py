"""``ptn run``, ``ptn serve`` and ``ptn coordinate``: the negotiation runtime's commands.

Why this module exists: the CLI functions in :mod:`ptn.cli.app` only parse options; the work
of each command (backends, live progress, results folder, metrics endpoint, serving until
stopped) is here, as plain functions the tests call too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from ptn.coordinator.mechanisms.joint_coordination import ReferenceSolver, run_joint_coordination
from ptn.coordinator.mechanisms.pricing_game import PricingGameOutcome, run_pricing_game
from ptn.coordinator.mechanisms.profit_sharing import ProfitSharingOutcome, run_profit_sharing
from ptn.coordinator.outcome import NegotiationOutcome, RoundRecord
from ptn.coordinator.results.negotiation import write_results
from ptn.coordinator.results.pricing_game import write_game_results
from ptn.coordinator.results.profit_sharing import write_profit_sharing_results
from ptn.coordinator.runtime.backends import BACKENDS, check_operator_parts, operator_endpoints
from ptn.coordinator.runtime.metrics import CoordinatorMetrics
from ptn.coordinator.runtime.transports import Endpoint, GrpcEndpoint
from ptn.engines.errors import InvalidInputError
from ptn.metrics_endpoint import serve_metrics
from ptn.scenario.document import Scenario, load_scenario

LOG = logging.getLogger("ptn")
CRASH_AFTER_ROUND_VARIABLE = "PTN_CRASH_AFTER_ROUND"


def _crash_after_round() -> int | None:
    """Fault injection for tests: ``PTN_CRASH_AFTER_ROUND=k`` kills the coordinator after
    checkpointing round k (as ``kill -9`` would, but at a known point)."""
    import os

    value = os.environ.get(CRASH_AFTER_ROUND_VARIABLE)
    return int(value) if value else None


def progress_printer(console: Console | None, tolerance: float) -> Callable[[RoundRecord], None]:
    """A live one-line-per-round display (to stderr when it is a terminal; else silent)."""
    def show(record: RoundRecord) -> None:
        if console is None:
            return
        console.print(
            f"round {record.round:>3}  primal {record.primal_residual:9.2e}  dual "
            f"{record.dual_residual:9.2e}  (stop at {tolerance:.0e})  rho "
            f"{record.penalty_per_mw2h:8.3g}  {record.seconds * 1000:7.1f} ms",
            highlight=False,
        )
    return show


def results_folder(scenario: Scenario, out: Path | None) -> Path:
    """``out``, or ``results/<scenario name>`` by default."""
    return out if out is not None else Path("results") / scenario.public.name


def _coordinator_metrics(metrics_port: int | None) -> CoordinatorMetrics:
    """The coordinator's metrics, served on ``metrics_port`` when given."""
    metrics = CoordinatorMetrics.create()
    serve_metrics(metrics_port, metrics.registry)
    return metrics


def game_progress_printer(console: Console | None, tolerance: float
                          ) -> Callable[[RoundRecord], None]:
    """The pricing game's live display: relative price changes, mean prices, revenues."""
    def show(record: RoundRecord) -> None:
        if console is None:
            return
        values = record.values
        kind = "trial" if values.get("trial") else "     "
        dso_price = record.series.get("dso_price_per_mwh")
        mean_dso = float(dso_price.mean()) if dso_price is not None else float("nan")
        revenues = "  ".join(f"{key[len('revenue_'):-len('_usd')]} {value:9.0f}"
                             for key, value in values.items() if key.startswith("revenue_"))
        console.print(
            f"round {record.round:>3} {kind}  dλ {values.get('dso_price_change', 0):8.2e}  dα "
            f"{values.get('charging_price_change', 0):8.2e}  (stop at {tolerance:.0e})  "
            f"λ̄ {mean_dso:6.1f}  ᾱ {float(record.price_per_mwh.mean()):6.1f}  $ {revenues}",
            highlight=False,
        )
    return show


def _negotiate(scenario: Scenario, endpoints: dict[str, Endpoint], out: Path,
               metrics: CoordinatorMetrics, console: Console | None, resume: Path | None,
               reference: ReferenceSolver | None
               ) -> NegotiationOutcome | PricingGameOutcome | ProfitSharingOutcome:
    """The negotiation with live progress, then its results folder."""
    if scenario.coordinator.mechanism == "profit-sharing":
        if resume is not None:
            raise InvalidInputError("--resume: profit sharing cannot resume yet (each share is a "
                                    "short negotiation; run it again)")
        sharing = run_profit_sharing(scenario, endpoints, out=out, metrics=metrics,
                                     progress=progress_printer(console,
                                                               scenario.coordinator.tolerance))
        write_profit_sharing_results(sharing, out)
        return sharing
    if scenario.coordinator.mechanism == "best-response":
        if resume is not None:
            raise InvalidInputError("--resume: the pricing game cannot resume yet (each of its "
                                    "variants is a short negotiation; run it again)")
        game = run_pricing_game(scenario, endpoints, out=out, metrics=metrics,
                                progress=game_progress_printer(console,
                                                               scenario.coordinator.tolerance),
                                crash_after_round=_crash_after_round())
        write_game_results(game, out, tolerance=scenario.coordinator.tolerance)
        return game
    outcome = run_joint_coordination(
        scenario, endpoints, out=out, metrics=metrics,
        progress=progress_printer(console, scenario.coordinator.tolerance), resume=resume,
        reference=reference, crash_after_round=_crash_after_round(),
    )
    write_results(outcome, out)
    return outcome


def run_scenario(
    scenario_spec: str | None,
    *,
    backend: str = "ray",
    out: Path | None = None,
    metrics_port: int | None = None,
    ray_address: str | None = None,
    resume: Path | None = None,
    reference: ReferenceSolver | None = None,
    show_progress: bool = False,
) -> tuple[NegotiationOutcome | PricingGameOutcome | ProfitSharingOutcome, Path]:
    """Run a scenario's coordination end to end on a backend; (outcome, results folder)."""
    scenario = load_scenario(scenario_spec)
    spec = scenario.source if scenario_spec is None else str(scenario_spec)
    out = results_folder(scenario, out)
    console = Console(stderr=True) if show_progress else None
    outcome = run_loaded_scenario(scenario, spec, backend=backend, out=out,
                                  metrics_port=metrics_port, ray_address=ray_address,
                                  resume=resume, reference=reference, console=console)
    return outcome, out


def run_loaded_scenario(
    scenario: Scenario,
    scenario_spec: str,
    *,
    backend: str,
    out: Path,
    metrics_port: int | None = None,
    ray_address: str | None = None,
    resume: Path | None = None,
    reference: ReferenceSolver | None = None,
    console: Console | None = None,
) -> NegotiationOutcome | PricingGameOutcome | ProfitSharingOutcome:
    """A loaded scenario's coordination on a backend, its results written to ``out``;
    ``scenario_spec`` is what operator processes load (the scenario's file or built-in name)."""
    if backend not in BACKENDS:
        raise InvalidInputError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    check_operator_parts(scenario)
    metrics = _coordinator_metrics(metrics_port)
    if console is not None:
        console.print(f"[bold]{scenario.public.name}[/]: {len(scenario.operator_ids)} operators "
                      f"on {backend}, {scenario.public.periods} periods, mechanism "
                      f"{scenario.coordinator.mechanism}")
    with operator_endpoints(scenario, scenario_spec, backend, registry=metrics.registry,
                            private_root=out / "operators", ray_address=ray_address,
                            log_directory=out / "logs") as endpoints:
        return _negotiate(scenario, endpoints, out, metrics, console, resume, reference)


def coordinate(
    scenario_spec: str,
    endpoint_specs: list[str],
    *,
    out: Path | None = None,
    metrics_port: int | None = None,
    tls_dir: Path | None = None,
    resume: Path | None = None,
    reference: ReferenceSolver | None = None,
    show_progress: bool = False,
    connect_timeout_s: float = 60.0,
) -> tuple[NegotiationOutcome | PricingGameOutcome | ProfitSharingOutcome, Path]:
    """Drive remote operators (``id=HOST:PORT`` each) through the scenario's mechanism;
    (outcome, results folder)."""
    scenario = load_scenario(scenario_spec)
    remote: dict[str, GrpcEndpoint] = {}
    for spec in endpoint_specs:
        operator_id, _, address = spec.partition("=")
        if not operator_id or not address or ":" not in address:
            raise InvalidInputError(f"--endpoint {spec!r}: expected ID=HOST:PORT")
        if operator_id not in scenario.parts:
            raise InvalidInputError(f"--endpoint {spec!r}: the scenario has no operator "
                                    f"{operator_id!r} (has: {', '.join(scenario.parts)})")
        remote[operator_id] = GrpcEndpoint(scenario.part(operator_id).role, operator_id,
                                           address, tls_dir)
    missing = [o for o in scenario.operator_ids if o not in remote]
    if missing:
        raise InvalidInputError(f"no --endpoint for operator {missing[0]!r}")
    for endpoint in remote.values():
        endpoint.wait_until_serving(connect_timeout_s)
    out = results_folder(scenario, out)
    console = Console(stderr=True) if show_progress else None
    outcome = _negotiate(scenario, dict(remote), out, _coordinator_metrics(metrics_port), console,
                         resume, reference)
    return outcome, out
