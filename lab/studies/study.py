"""``ptn study``: the seed papers' studies (seeds 002 and 003) as tables and figures.

Why this module exists: seeds 002 and 003 report figures and numbers that need more than one
negotiation. Seed 002 shows the SUE traffic, the DER dispatch, the relaxation error and MSA's
warm start. Seed 003 compares the coordinated operation with the uncoupled baseline and
measures EV hosting capacity. A study runs the scenario's private negotiation over a backend
(the operators as separate processes by default). It then takes the experimenter's
full-information view (MODELS.md §0: references for experiments only) to compute what the
papers plot, and writes everything to one results folder:

* ``negotiation/``: the negotiation's own results (as ``ptn run``): baseline, agreed operation,
  centralized reference, rounds, transcript;
* ``costs.csv``: traffic, power and total cost of the baseline, the negotiated and the
  centralized operation, the saving against the baseline and the gap to the reference;
* the study's own tables (CSV) and figures (PNG) (:mod:`ptn.lab.studies.sue_der`,
  :mod:`ptn.lab.studies.hosting`);
* ``summary.json`` and ``report.md`` (the paper's claims next to what we get).

The scenario's ``[study]`` table names the study (``kind``) and its settings; no operator reads
it. ``periods`` resamples the horizon (fewer, longer periods; the CI runs studies that way).
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptn.coordinator.mechanisms.joint_coordination import with_reference
from ptn.coordinator.outcome import NegotiationOutcome
from ptn.coordinator.results.formatting import json_ready, money
from ptn.coordinator.results.index_page import SUMMARY_FILE, write_index_page
from ptn.coordinator.results.joint_coordination import write_results_folder
from ptn.coordinator.runner import results_folder, run_loaded_scenario
from ptn.engines.errors import InvalidInputError
from ptn.engines.toml_keys import show_value
from ptn.lab.progress_log import ProgressLog
from ptn.lab.references.joint import centralized_reference
from ptn.lab.run_folder import OK, free_default_folder, prepare_run_folder
from ptn.lab.studies.network_figures import write_network_figures
from ptn.scenario.document import Scenario, load_scenario

#: ``[study] kind``: seed 002's stochastic equilibrium with DER, seed 003's cost saving and
#: EV hosting capacity
STUDY_KINDS = ("sue-der", "hosting")
STUDY_KEYS = ("kind", "paper", "msa_tolerance", "tariff_sigma", "hosting_tolerance",
              "hosting_max_scale")
#: seed 002's MSA stopping tolerance ε of max_k |f_k^(n+1) − f_k^n| (veh/h; choice)
DEFAULT_MSA_TOLERANCE = 1e-2
#: seed 002's eq. 22: the flat band's half-width σ, a fraction of the equivalent load's
#: peak-to-valley difference (choice, the paper gives none: of σ = 0, 0.05, ..., 0.3 the one
#: whose classes of the RTS winter-weekday load match most of Table 1's hours, 18 of 24)
DEFAULT_TARIFF_SIGMA = 0.2
#: hosting capacity: bisection to this relative width of the EV demand scale (choice)
DEFAULT_HOSTING_TOLERANCE = 1e-2
#: hosting capacity: the largest EV demand scale searched (choice)
DEFAULT_HOSTING_MAX_SCALE = 50.0


@dataclass(frozen=True)
class StudySettings:
    """The validated ``[study]`` table."""

    kind: str
    paper: str = ""
    msa_tolerance: float = DEFAULT_MSA_TOLERANCE
    tariff_sigma: float = DEFAULT_TARIFF_SIGMA
    hosting_tolerance: float = DEFAULT_HOSTING_TOLERANCE
    hosting_max_scale: float = DEFAULT_HOSTING_MAX_SCALE


@dataclass(frozen=True)
class StudyOutcome:
    """A study's end: the negotiation, what the study computed (JSON-ready) and its files."""

    scenario: str
    kind: str
    status: str  # "ok", or "failed" with a message
    message: str
    negotiation: NegotiationOutcome
    summary: dict[str, Any]
    files: tuple[Path, ...]  # the study's own; the negotiation's are in ``negotiation/``
    seconds: float
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def study_settings(scenario: Scenario) -> StudySettings:
    """Validate the scenario's ``[study]`` table; errors name the file and key."""
    table = scenario.study
    where = f"{scenario.source}: study"
    if not table:
        raise InvalidInputError(f"{scenario.source}: no [study] table (ptn study needs one with "
                                f"kind = one of {', '.join(STUDY_KINDS)})")
    unknown = sorted(set(table) - set(STUDY_KEYS))
    if unknown:
        raise InvalidInputError(f"{where}.{unknown[0]}: unknown key (known: "
                                f"{', '.join(STUDY_KEYS)})")
    kind = table.get("kind")
    if kind not in STUDY_KINDS:
        raise InvalidInputError(f"{where}.kind: expected one of {', '.join(STUDY_KINDS)}, got "
                                f"{show_value(kind)}")
    paper = table.get("paper", "")
    if not isinstance(paper, str):
        raise InvalidInputError(f"{where}.paper: expected a string, got {show_value(paper)}")

    def positive(key: str, default: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value <= 0:
            raise InvalidInputError(f"{where}.{key}: expected a positive number, got "
                                    f"{show_value(value)}")
        return float(value)

    sigma = table.get("tariff_sigma", DEFAULT_TARIFF_SIGMA)
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) \
            or not (0 <= sigma <= 0.5):
        raise InvalidInputError(f"{where}.tariff_sigma: expected a number in [0, 0.5], got "
                                f"{show_value(sigma)}")
    tolerance = positive("hosting_tolerance", DEFAULT_HOSTING_TOLERANCE)
    if tolerance >= 1:
        raise InvalidInputError(f"{where}.hosting_tolerance: must be below 1, got {tolerance:g}")
    return StudySettings(kind=str(kind), paper=paper,
                         msa_tolerance=positive("msa_tolerance", DEFAULT_MSA_TOLERANCE),
                         tariff_sigma=float(sigma),
                         hosting_tolerance=tolerance,
                         hosting_max_scale=positive("hosting_max_scale",
                                                    DEFAULT_HOSTING_MAX_SCALE))


def cost_rows(outcome: NegotiationOutcome) -> list[dict[str, Any]]:
    """Traffic, power and total cost of each operating point the negotiation reports ($)."""
    rows = []
    for label, point in (("baseline (uncoordinated, flat tariff)", outcome.baseline),
                         ("negotiated (private ADMM)", outcome.agreed),
                         ("centralized reference", outcome.centralized)):
        if point is None:
            continue
        if not point.feasible:  # its status and why (which side cannot serve it)
            label += f": {point.status} ({point.message})"
        rows.append({"operation": label, "traffic_usd": point.by_operator.get("traffic"),
                     "power_usd": point.by_operator.get("dso"), "total_usd": point.total})
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """Rows of equal keys as CSV (floats with full precision)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_study(
    scenario_spec: str,
    *,
    backend: str = "grpc",
    out: Path | None = None,
    periods: int | None = None,
    ray_address: str | None = None,
    force: bool = False,
    log: ProgressLog | None = None,
) -> tuple[StudyOutcome, Path]:
    """Run a study scenario end to end; (outcome, results folder).

    ``out`` (default ``results/<scenario name>``, or a new timestamped folder beside it when
    that holds results) is a safe results folder (:mod:`ptn.lab.run_folder`): a non-empty ``out``
    is refused unless ``force``, and a failed study never replaces a good one. ``log`` shows
    each step (:mod:`ptn.lab.progress_log`).
    """
    scenario = load_scenario(scenario_spec, periods=periods)
    settings = study_settings(scenario)
    if scenario.coordinator.mechanism != "admm":
        raise InvalidInputError(f"{scenario.source}: coordinator.mechanism: a study negotiates "
                                f"by ADMM, got {scenario.coordinator.mechanism!r}")
    target = out if out is not None or force else free_default_folder(
        results_folder(scenario, None))
    folder = prepare_run_folder(results_folder(scenario, target), force=force,
                                scenario=scenario)
    if log is not None:
        log.print(f"{scenario.public.name}: study {settings.kind}, results in {folder.target}")
    with folder.running():
        outcome = _study(scenario, scenario_spec, settings, folder.working, backend=backend,
                         ray_address=ray_address, log=log)
        final = folder.finish(OK if outcome.ok else outcome.status, outcome.message)
    if final != folder.target and log is not None:
        log.print(f"{folder.target} holds a good study: this run's results are in {final}")
    return outcome, final


def _step(log: ProgressLog | None, what: str) -> AbstractContextManager[None]:
    return log.step(what) if log is not None else nullcontext()


def _study(scenario: Scenario, scenario_spec: str, settings: StudySettings, out: Path, *,
           backend: str, ray_address: str | None, log: ProgressLog | None) -> StudyOutcome:
    """The study's steps, written to ``out``."""
    started = time.perf_counter()
    with _step(log, "negotiation (baseline, ADMM rounds)"):
        negotiation = run_loaded_scenario(
            scenario, scenario_spec, backend=backend, out=out / "negotiation",
            ray_address=ray_address, progress=None if log is None else log.rounds(scenario))
    with _step(log, "centralized reference (full information)"):
        negotiation = with_reference(negotiation, scenario, centralized_reference)
    write_results_folder(negotiation, out / "negotiation")
    write_network_figures(scenario, negotiation, out / "negotiation")
    write_index_page(out / "negotiation")
    assert isinstance(negotiation, NegotiationOutcome)  # mechanism admm
    files: list[Path] = []
    summary: dict[str, Any] = {
        "scenario": scenario.public.name, "kind": settings.kind, "paper": settings.paper,
        "backend": backend, "periods": scenario.public.periods,
        "period_hours": scenario.public.period_hours,
        "negotiation": {"status": str(negotiation.status), "rounds": len(negotiation.rounds),
                        "seconds": negotiation.seconds,
                        "saving_vs_baseline_usd": negotiation.saving_vs_baseline,
                        "gap_to_centralized": negotiation.gap_to_centralized},
        "costs": cost_rows(negotiation),
    }
    files.append(write_csv(summary["costs"], out / "costs.csv"))
    status, message, section = "ok", "", ""
    if negotiation.agreed is None:
        status, message = "failed", f"the negotiation ended {negotiation.status}: " \
                                    f"{negotiation.message}"
    else:
        analyse = _analysis(settings.kind)
        with _step(log, f"study {settings.kind}: the full-information analysis"):
            study_summary, study_files, section = analyse(scenario, settings, negotiation, out,
                                                          log)
        summary.update(study_summary)
        files += study_files
    summary["status"], summary["message"] = status, message
    files.append(_write_report(summary, section, out / "report.md"))
    summary["seconds"] = time.perf_counter() - started
    (out / SUMMARY_FILE).write_text(json.dumps(json_ready(summary), indent=2) + "\n",
                                      encoding="utf-8")
    files.append(out / SUMMARY_FILE)
    files.append(write_index_page(out))
    return StudyOutcome(scenario=scenario.public.name, kind=settings.kind, status=status,
                        message=message, negotiation=negotiation, summary=summary,
                        files=tuple(files), seconds=summary["seconds"])


#: a study kind's full-information part: (summary entries, files, report section in Markdown)
Analysis = Callable[[Scenario, StudySettings, NegotiationOutcome, Path, ProgressLog | None],
                    tuple[dict[str, Any], list[Path], str]]


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _write_report(summary: dict[str, Any], section: str, path: Path) -> Path:
    """``report.md``: the negotiation, the costs, then the study's own section."""
    negotiation = summary["negotiation"]
    lines = [f"# Study {summary['kind']}: {summary['scenario']}"
             + (f" ({summary['paper']})" if summary["paper"] else ""), "",
             f"{summary['periods']} periods of {summary['period_hours']:g} h; operators on "
             f"{summary['backend']}. Negotiation: {negotiation['status']} in "
             f"{negotiation['rounds']} rounds, {negotiation['seconds']:.1f} s.", "",
             "| operation | traffic $ | power $ | total $ |", "|---|---:|---:|---:|"]
    lines += [f"| {row['operation']} | {money(_number(row['traffic_usd']))} | "
              f"{money(_number(row['power_usd']))} | {money(_number(row['total_usd']))} |"
              for row in summary["costs"]]
    gap = _number(negotiation["gap_to_centralized"])
    saving = _number(negotiation["saving_vs_baseline_usd"])
    baseline = _number(next((row["total_usd"] for row in summary["costs"]
                             if row["operation"].startswith("baseline")), None))
    lines.append("")
    if math.isfinite(saving) and math.isfinite(baseline) and baseline:
        lines.append(f"Saving against the baseline: {money(saving)} $ "
                     f"({100 * saving / baseline:.2g} %).")
    if math.isfinite(gap):
        lines.append(f"Gap of the negotiated operation to the centralized reference: {gap:.2e} "
                     "(relative).")
    lines.append("")
    if summary["status"] != "ok":
        lines += [f"**The study stopped:** {summary['message']}", ""]
    if section:
        lines += [section.rstrip(), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _analysis(kind: str) -> Analysis:
    """The full-information part of a study kind."""
    if kind == "sue-der":
        from ptn.lab.studies.sue_der import analyse_sue_der

        return analyse_sue_der
    from ptn.lab.studies.hosting import analyse_hosting

    return analyse_hosting
