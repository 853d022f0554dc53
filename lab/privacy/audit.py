"""``ptn privacy audit SCENARIO``: run a scenario, then every attack that applies to it.

Why this module exists: a researcher asking "how much does each operator learn?" needs one
command that negotiates (in-process), plays every honest-but-curious adversary of the battery
(:mod:`ptn.lab.privacy`) on the messages it saw, and writes the scores beside the negotiation's
results: ``audit.json`` (every attack's estimate, truth and error), ``audit.md`` (the table and
its sentences) and the negotiation's own results and transcript under ``negotiation/``, in a
safe results folder (:mod:`ptn.lab.run_folder`).

Which attacks apply: ``admm`` — the DSO against the traffic department's load response
(:mod:`~ptn.lab.privacy.response_fit`), the traffic department against the DSO's limits and
tariff (:mod:`~ptn.lab.privacy.feeder_limits`); ``best-response`` — every CNO against every
other in the Nash game (:mod:`~ptn.lab.privacy.price_bounds`); other mechanisms have none yet.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.mechanisms.registry import mechanism_plugin
from ptn.coordinator.outcome import NegotiationOutcome
from ptn.coordinator.results.formatting import json_ready
from ptn.coordinator.runner import results_folder, run_loaded_scenario
from ptn.engines.errors import InvalidInputError
from ptn.lab.privacy.feeder_limits import (
    BINDING_ATTACK,
    TARIFF_ATTACK,
    infer_binding_periods,
    infer_upstream_tariff,
)
from ptn.lab.privacy.price_bounds import infer_marginal_cost, infer_price_bounds
from ptn.lab.privacy.response_fit import ATTACK as RESPONSE_ATTACK
from ptn.lab.privacy.response_fit import reconstruct_response, response_truth
from ptn.lab.privacy.result import RELATIVE_ERROR, AttackResult
from ptn.lab.privacy.truth import cno_truth, feeder_truth, traffic_response
from ptn.lab.privacy.views import admm_view, game_view
from ptn.lab.progress_log import ProgressLog
from ptn.lab.run_folder import OK, free_default_folder, prepare_run_folder
from ptn.scenario.document import Scenario, load_scenario

AUDIT_JSON, AUDIT_MD = "audit.json", "audit.md"


@dataclass(frozen=True)
class AuditOutcome:
    """The negotiation's status and every attack's result."""

    scenario: str
    mechanism: str
    negotiation_status: str
    attacks: tuple[AttackResult, ...]
    seconds: float
    message: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.attacks) and all(a.ok for a in self.attacks)

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "mechanism": self.mechanism,
                "negotiation_status": self.negotiation_status, "message": self.message,
                "seconds": self.seconds, "attacks": [a.to_json() for a in self.attacks]}


def admm_attacks(scenario: Scenario, outcome: NegotiationOutcome) -> list[AttackResult]:
    """The DSO against the traffic department's response; the traffic department against the
    DSO's binding limits and upstream tariff (scored against the DSO's dispatch of its own
    last loads: the agreed point of its side)."""
    view = admm_view(outcome)
    # the agreed prices, or where noisy loads drove a consensus price below zero (which the
    # department refuses to be charged) the prices clipped at zero, for both the attacker's
    # estimate and the truth
    reference = np.maximum(view.final_price, 0.0)
    clipped = not np.array_equal(reference, view.final_price)
    try:
        truth = response_truth(traffic_response(scenario), reference)
    except InvalidInputError as error:
        results = [failed(RESPONSE_ATTACK, "dso", "traffic", f"no truth: {error}")]
    else:
        results = [reconstruct_response(view, truth, reference if clipped else None)]
    dso_loads = [r.load_mw["dso"] for r in outcome.rounds if "dso" in r.load_mw]
    try:
        if not dso_loads:
            raise InvalidInputError("no round with the DSO's loads")
        feeder = feeder_truth(scenario, dso_loads[-1])
    except InvalidInputError as error:
        return [*results, *(failed(name, "traffic", "dso", f"no truth: {error}")
                            for name in (BINDING_ATTACK, TARIFF_ATTACK))]
    results.append(infer_binding_periods(view.last_price_received, feeder))
    results.append(infer_upstream_tariff(view.last_price_received, feeder))
    return results


def failed(attack: str, attacker: str, target: str, message: str) -> AttackResult:
    """An attack that could not be scored, and why."""
    return AttackResult(attack=attack, attacker=attacker, target=target, estimates="",
                        estimate=None, truth=None, error=math.nan, status="failed",
                        message=message)


def game_attacks(scenario: Scenario, outcome: Any, variant: str = "nash") -> list[AttackResult]:
    """Every CNO against every other CNO in the ``variant`` game: bounds and marginal cost."""
    if variant not in outcome.variants:
        raise InvalidInputError(f"the pricing game has no {variant!r} variant (played: "
                                f"{', '.join(outcome.variants)})")
    played = outcome.variants[variant]
    cnos: dict[str, tuple[str, ...]] = played.cnos
    records = played.outcome.rounds
    truths = {target: cno_truth(scenario, target, outcome.stations, records)
              for target in cnos}
    results: list[AttackResult] = []
    for attacker, own in cnos.items():
        for target, theirs in cnos.items():
            if target == attacker:
                continue
            view = game_view(records, outcome.stations, own, theirs, attacker=attacker,
                             target=target)
            truth = truths[target]
            results += [infer_price_bounds(view, truth), infer_marginal_cost(view, truth)]
    return results


#: the attacks of each mechanism (the scenario, the negotiation's outcome → results)
ATTACKS: dict[str, Callable[[Scenario, Any], list[AttackResult]]] = {
    "admm": admm_attacks, "best-response": game_attacks}


def run_attacks(scenario: Scenario, outcome: Any) -> tuple[list[AttackResult], str]:
    """Every attack that applies to the outcome's mechanism; (results, why there are none)."""
    mechanism = scenario.coordinator.mechanism
    attacks = ATTACKS.get(mechanism)
    if attacks is None:
        return [], (f"no attack of the battery applies to the {mechanism!r} mechanism yet "
                    f"(attacks for: {', '.join(ATTACKS)})")
    try:
        return attacks(scenario, outcome), ""
    except InvalidInputError as error:
        return [], f"the attacks could not run: {error}"


def format_table(results: list[AttackResult] | tuple[AttackResult, ...]) -> str:
    """The attacks as a plain table: attack, attacker, target, what, error."""
    header = ("attack", "attacker", "target", "estimate", "error")
    rows = [header] + [(r.attack, r.attacker, r.target, r.estimates, _error_text(r))
                       for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                       ).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _error_text(result: AttackResult) -> str:
    if not result.ok:
        return f"{result.status}: {result.message}"
    if result.error_measure == RELATIVE_ERROR:
        more = "".join(f"; {k.removesuffix('_relative_error').replace('_', ' ')} "
                       f"{100 * v:.3g} %" for k, v in result.errors.items()
                       if k.endswith("_relative_error") and math.isfinite(v))
        return f"{100 * result.error:.3g} % (relative){more}"
    others = ", ".join(f"{k} {v:.3g}" for k, v in result.errors.items()
                       if k in ("precision", "recall") and k != result.error_measure)
    return f"{result.error_measure} {result.error:.3g}" + (f", {others}" if others else "")


def audit_markdown(audit: AuditOutcome) -> str:
    """audit.md: the table, one sentence per attack, and where the numbers come from."""
    lines = [f"# Privacy audit: {audit.scenario}", "",
             f"Mechanism `{audit.mechanism}`, negotiation {audit.negotiation_status}; "
             f"{len(audit.attacks)} attacks by honest-but-curious operators on the messages "
             "they saw, scored against the operators' private data (docs/privacy.md).", ""]
    if audit.message:
        lines += [audit.message, ""]
    if audit.attacks:
        lines += ["```", format_table(audit.attacks), "```", ""]
        lines += [f"- {a.headline()}" for a in audit.attacks]
    return "\n".join(lines) + "\n"


def write_audit(audit: AuditOutcome, folder: Path) -> list[Path]:
    """audit.json and audit.md in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / AUDIT_JSON, folder / AUDIT_MD
    json_path.write_text(json.dumps(json_ready(audit.to_json()), indent=2) + "\n",
                         encoding="utf-8")
    md_path.write_text(audit_markdown(audit), encoding="utf-8")
    return [json_path, md_path]


def audit_outcome(scenario: Scenario, outcome: Any, seconds: float = 0.0) -> AuditOutcome:
    """The battery on a finished negotiation."""
    results, message = run_attacks(scenario, outcome)
    return AuditOutcome(scenario=scenario.public.name,
                        mechanism=scenario.coordinator.mechanism,
                        negotiation_status=str(outcome.status), attacks=tuple(results),
                        seconds=seconds, message=message)


def run_audit(scenario_spec: str | None, *, periods: int | None = None, out: Path | None = None,
              force: bool = False, log: ProgressLog | None = None
              ) -> tuple[AuditOutcome, Path]:
    """Negotiate ``scenario_spec`` in-process, run the battery, write the results folder
    (``out``; default ``results/<name>-privacy``, or a timestamped folder beside it when that
    holds results); (the audit, the folder)."""
    started = time.perf_counter()
    scenario = load_scenario(scenario_spec, periods=periods)
    default = results_folder(scenario, None).with_name(f"{scenario.public.name}-privacy")
    target = out if out is not None else default if force else free_default_folder(default)
    folder = prepare_run_folder(target, force=force, scenario=scenario)
    if log is not None:
        log.print(f"{scenario.public.name}: privacy audit, results in {folder.target}")
    with folder.running():
        negotiation = folder.working / "negotiation"
        with _step(log, f"negotiation ({scenario.coordinator.mechanism}, in-process)"):
            outcome = run_loaded_scenario(scenario, scenario.source, backend="inproc",
                                          out=negotiation)
            mechanism_plugin(scenario.coordinator.mechanism).write_results(
                outcome, negotiation, scenario)
        with _step(log, "attacks (the adversaries' views against the private truth)"):
            audit = audit_outcome(scenario, outcome)
        audit = replace(audit, seconds=time.perf_counter() - started)
        write_audit(audit, folder.working)
        final = folder.finish(OK if audit.ok else "failed", audit.message)
    return audit, final


def _step(log: ProgressLog | None, what: str) -> AbstractContextManager[None]:
    return log.step(what) if log is not None else nullcontext()
