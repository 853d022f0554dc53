"""The Python API: load a scenario, change it, run it, and look at the results in a notebook.

Why this module exists: a researcher who works in Python (a notebook, a parameter study) needs
ptn without its command line and without files it did not ask for::

    import ptn

    scenario = ptn.Scenario.load("nguyen-dupuis-ieee33")
    scenario = scenario.with_overrides({"traffic.ev_share": 0.2, "coordinator.tolerance": 1e-5})
    result = ptn.run(scenario, backend="inproc")       # out=None: writes nothing
    result.summary["saving_vs_baseline"]                # the dict summary.json would hold
    result.rounds.tail()                                # pandas DataFrames
    result.write("results/ev20")                        # the results folder, when wanted

    table = ptn.sweep("examples/campaign-ev-share.toml", out="results/ev-share")  # a campaign

:func:`run` negotiates through the same runner as ``ptn run`` (the scenario's mechanism from
the registry, on the chosen backend) and, with ``reference=True``, sets the experimenter's
full-information reference beside the outcome (:mod:`ptn.lab.references`), as ``ptn run``
does. :func:`sweep` runs a campaign (many trials of one base scenario, :mod:`ptn.campaign`)
and returns its table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import tomlkit
from tomlkit.exceptions import TOMLKitError

from ptn.coordinator.mechanisms.registry import MechanismPlugin, mechanism_plugin
from ptn.coordinator.outcome import NegotiationStatus, RoundRecord
from ptn.coordinator.results.index_page import SUMMARY_FILE
from ptn.coordinator.runner import coordinate as coordinate_operators
from ptn.coordinator.runner import results_folder, resume_checkpoint, run_loaded_scenario
from ptn.engines.errors import InvalidInputError
from ptn.lab.run_folder import OK, prepare_run_folder
from ptn.scenario import document
from ptn.services.hosting import check_part

if TYPE_CHECKING:
    from ptn.campaign.progress import CampaignCounts
    from ptn.campaign.spec import Campaign
    from ptn.lab.progress_log import ProgressLog

#: a key of :meth:`Scenario.with_overrides`: tables and keys by dots, arrays of tables by a
#: 1-based index as in error messages (``traffic.station[2].node``)
_KEY_PART = re.compile(r"^([A-Za-z0-9_-]+)(?:\[(\d+)\])?$")


class OverrideError(InvalidInputError):
    """A key of :meth:`Scenario.with_overrides` that does not address a value."""


@dataclass(frozen=True)
class Scenario:
    """A validated scenario (a built-in name or a TOML file), to inspect, change and run.

    ``document`` is the validated scenario the runtime uses
    (:class:`ptn.scenario.document.Scenario`); its public facts, coordinator settings and
    operator parts are there.
    """

    document: document.Scenario
    #: what a separate operator process loads: the file or the built-in name, None once changed
    spec: str | None = None

    @classmethod
    def load(cls, name_or_path: str | Path | None = None, *,
             periods: int | None = None) -> Scenario:
        """A built-in scenario by name (:func:`ptn.scenarios.names`) or a TOML file; the default
        scenario without an argument. ``periods`` resamples the day (fewer, longer periods)."""
        loaded = document.load_scenario(name_or_path, periods=periods)
        return cls(loaded, loaded.source if name_or_path is None else str(name_or_path))

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<text>",
                  base_directory: Path | None = None) -> Scenario:
        """A scenario from TOML text (relative paths in it resolve against
        ``base_directory``, the working directory by default)."""
        return cls(document.scenario_from_text(
            text, source=source, base_directory=base_directory or Path.cwd()))

    @property
    def name(self) -> str:
        return self.document.public.name

    @property
    def mechanism(self) -> str:
        return self.document.coordinator.mechanism

    def to_toml(self) -> str:
        """The scenario as TOML text (its comments kept)."""
        return self.document.text

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A copy with values replaced (or, for ``None``, removed), validated like a file.

        Keys are dotted paths of the TOML document: ``"traffic.ev_share"``,
        ``"coordinator.tolerance"``, ``"cno.cno1.price_max_per_mwh"``, and 1-based indices
        into arrays of tables as in error messages: ``"traffic.station[2].node"``. A key that
        does not exist is created, so the scenario's own validation names a misspelt one: the
        copy's tables are read as its operators will read them, errors naming the key.
        """
        text = self.document.text
        try:
            toml = tomlkit.parse(text)
        except TOMLKitError as error:  # pragma: no cover - the text was validated on load
            raise InvalidInputError(f"{self.document.source}: {error}") from error
        for key, value in overrides.items():
            _set(toml, key, _toml_value(key, value))
        changed = document.scenario_from_text(
            tomlkit.dumps(toml), source=f"{self.document.source} (with overrides)",
            base_directory=self.document.parts[next(iter(self.document.parts))].base_directory,
            periods=self.document.resampled_periods)
        for operator_id in changed.operator_ids:  # every operator's table, as its operator reads
            check_part(changed.part(operator_id))
        return Scenario(changed)

    def with_placement(self, path: str | Path) -> Scenario:
        """A copy whose ``[placement]`` table is the one of the TOML file ``path`` (the
        scenario's own replaced), validated as the scenario's would be."""
        return self.with_overrides(placement_overrides(path))


def placement_overrides(path: str | Path) -> dict[str, Any]:
    """The ``[placement]`` table of a TOML file as overrides that replace a scenario's own
    (``ptn run/sweep --placement FILE``); a file without one is refused naming it."""
    import tomllib

    from ptn.campaign.spec import flatten

    file = Path(path)
    try:
        document = tomllib.loads(file.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InvalidInputError(f"--placement {file}: {error}") from error
    table = document.get("placement")
    if not isinstance(table, dict):
        raise InvalidInputError(f"--placement {file}: expected a [placement] table "
                                f"(has: {', '.join(document) or 'nothing'})")
    others = [key for key in document if key != "placement"]
    if others:
        raise InvalidInputError(f"--placement {file}: only a [placement] table belongs "
                                f"here, not {', '.join(others)}")
    return {"placement": None, **flatten(table, "placement")}


def _toml_value(key: str, value: Any) -> Any:
    """A Python or numpy value as a TOML value."""
    if value is None or isinstance(value, bool | str):
        return value
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        value = value.tolist()
    if isinstance(value, int | float | list | tuple | dict):
        return list(value) if isinstance(value, tuple) else value
    raise OverrideError(f"override {key!r}: a {type(value).__name__} is not a TOML value")


def _set(toml: Any, key: str, value: Any) -> None:
    parts = key.split(".")
    target = toml
    for position, part in enumerate(parts):
        match = _KEY_PART.match(part)
        if match is None:
            raise OverrideError(f"override {key!r}: {part!r} is not a key (letters, digits, "
                                "'-', '_', and [n] for the n-th table of an array)")
        name, index = match.group(1), match.group(2)
        last = position == len(parts) - 1
        if index is not None:
            tables = target.get(name) if hasattr(target, "get") else None
            if not isinstance(tables, list) or not 1 <= int(index) <= len(tables):
                count = len(tables) if isinstance(tables, list) else 0
                raise OverrideError(f"override {key!r}: {'.'.join(parts[:position + 1])} "
                                    f"does not exist ({name} has {count} tables, numbered "
                                    "from 1)")
            if last:
                raise OverrideError(f"override {key!r}: a whole table cannot be replaced; "
                                    "address its keys")
            target = tables[int(index) - 1]
            continue
        if last:
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value
            return
        if name not in target:
            target[name] = tomlkit.table()
        target = target[name]
        if not hasattr(target, "get"):
            raise OverrideError(f"override {key!r}: {'.'.join(parts[:position + 1])} is a "
                                "value, not a table")


@dataclass(frozen=True)
class RunResult:
    """A negotiation's outcome (``outcome``: the mechanism's own result) with its summary and
    tables, and the results folder it was written to (None: nothing was written)."""

    scenario: Scenario
    outcome: Any
    folder: Path | None = None
    #: where the operators ran: on Ray, per operator its node (``node_id``, ``host``, ``ip``);
    #: on another backend with a ``[placement]`` table, a note that it applies to Ray only;
    #: None otherwise (``summary.json`` holds it as ``placement``)
    placement: dict[str, Any] | None = None

    @property
    def _plugin(self) -> MechanismPlugin[Any]:
        return mechanism_plugin(self.scenario.mechanism)

    @property
    def status(self) -> NegotiationStatus:
        status: NegotiationStatus = self.outcome.status
        return status

    @property
    def converged(self) -> bool:
        return bool(self.outcome.converged)

    @property
    def message(self) -> str:
        return str(self.outcome.message)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What operators said beside their usable replies (e.g. stations whose charging
        capacity binds), one line per operator and RPC; empty for mechanisms without them."""
        return tuple(getattr(self.outcome, "warnings", ()))

    @property
    def summary(self) -> dict[str, Any]:
        """What ``summary.json`` holds (strict JSON values: NaN as None)."""
        summary = self._plugin.summary(self.outcome)
        if self.placement is not None:
            summary = {**summary, "placement": self.placement}
        return summary

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the results folder, by name (CSV file stem)."""
        return self._plugin.tables(self.outcome)

    @property
    def rounds(self) -> pd.DataFrame:
        """One row per negotiation round: its fields (residuals or price changes), prices."""
        return self.tables["rounds"]

    @property
    def loads(self) -> pd.DataFrame | None:
        """Station loads by station and period (None when the mechanism has no such table)."""
        return self.tables.get("loads")

    @property
    def prices(self) -> pd.DataFrame | None:
        """Prices by station and period (None when the mechanism has no such table)."""
        return self.tables.get("prices")

    def format(self) -> str:
        """The summary ``ptn run`` prints."""
        return self._plugin.format_summary(self.outcome)

    def write(self, out: str | Path) -> list[Path]:
        """Write the results folder (summary, tables, plots) to ``out``; the paths written."""
        written = self._plugin.write_results(self.outcome, Path(out), self.scenario.document)
        summary_path = Path(out) / SUMMARY_FILE
        if self.placement is not None and summary_path.exists():
            summary = json.loads(summary_path.read_text("utf-8"))
            summary["placement"] = self.placement
            summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        return written


def run(scenario: Scenario | str | Path | None = None, *, backend: str = "inproc",
        out: str | Path | None = None, reference: bool = True, resume: str | Path | None = None,
        metrics_port: int | None = None, ray_address: str | None = None,
        progress: Callable[[RoundRecord], None] | None = None, force: bool = False,
        log: ProgressLog | None = None) -> RunResult:
    """Run a scenario's negotiation (a :class:`Scenario`, a built-in name or a TOML file; the
    default scenario without one) with its operators on ``backend`` (``inproc``, ``ray`` or
    ``grpc``).

    ``out``: the results folder (summary, tables, plots, transcript, checkpoint, the operators'
    private reports, ``manifest.json``); ``None`` writes nothing. A folder that already holds
    results is refused unless ``force`` (or ``resume`` names its checkpoint); a run that fails
    never replaces a good result (:mod:`ptn.lab.run_folder`). ``reference``: also solve the
    full-information reference of mechanisms that have one (the joint optimum of ``admm``).
    ``resume``: a checkpoint of this scenario to continue from. ``progress`` is called after
    every round; ``log`` shows the steps (:class:`ptn.lab.progress_log.ProgressLog`).
    """
    loaded = scenario if isinstance(scenario, Scenario) else Scenario.load(scenario)
    placed: dict[str, Any] = {}

    def negotiate(folder: Path | None, checkpoint: Path | None) -> Any:
        return run_loaded_scenario(
            loaded.document, _spec_for_processes(loaded, backend, folder), backend=backend,
            out=folder, metrics_port=metrics_port, ray_address=ray_address,
            resume=checkpoint, progress=progress, on_placed=placed.update)

    return _in_folder(loaded, out, force, resume, log, negotiate,
                      lambda outcome, folder: _finish(loaded, outcome, folder, reference,
                                                      placed or None, log))


def coordinate(scenario: Scenario | str | Path, endpoints: list[str], *,
               out: str | Path | None = None, reference: bool = False,
               resume: str | Path | None = None, metrics_port: int | None = None,
               tls_dir: str | Path | None = None, connect_timeout_s: float | None = None,
               token_dir: str | Path | None = None,
               progress: Callable[[RoundRecord], None] | None = None, force: bool = False,
               log: ProgressLog | None = None) -> RunResult:
    """Drive operators served elsewhere (``ptn serve``), one ``"ID=HOST:PORT"`` each, through
    the scenario's negotiation; arguments as :func:`run` (``tls_dir``: ``ca.crt`` and, for
    mutual TLS, ``client.crt`` and ``client.key``). ``reference`` is off by default: it reads
    every operator's table of the scenario file, which a coordinator of separate companies
    does not hold. ``connect_timeout_s``: how long to wait for every operator to serve
    (default: the scenario's ``[coordinator] operator_wait_s``). ``token_dir``: a bearer token
    per operator (``<operator_id>.token``), for operators behind a TLS-terminating proxy."""
    loaded = scenario if isinstance(scenario, Scenario) else Scenario.load(scenario)

    def negotiate(folder: Path | None, checkpoint: Path | None) -> Any:
        return coordinate_operators(
            loaded.document, endpoints, out=folder, metrics_port=metrics_port,
            tls_dir=Path(tls_dir) if tls_dir is not None else None,
            resume=checkpoint, progress=progress, connect_timeout_s=connect_timeout_s,
            token_dir=Path(token_dir) if token_dir is not None else None)

    return _in_folder(loaded, out, force, resume, log, negotiate,
                      lambda outcome, folder: _finish(loaded, outcome, folder, reference,
                                                      None, log))


def _in_folder(scenario: Scenario, out: str | Path | None, force: bool,
               resume: str | Path | None, log: ProgressLog | None,
               negotiate: Callable[[Path | None, Path | None], Any],
               finish: Callable[[Any, Path | None], RunResult]) -> RunResult:
    """A negotiation and its results in a safe results folder (:mod:`ptn.lab.run_folder`):
    checked and created before any work, the checkpoint of ``resume`` validated first."""
    checkpoint = Path(resume) if resume is not None else None
    if checkpoint is not None:  # refused before a folder is touched or an operator started
        resume_checkpoint(scenario.document, checkpoint)
    negotiation = (f"{scenario.name}: {scenario.mechanism} negotiation of "
                   f"{len(scenario.document.operator_ids)} operators over "
                   f"{scenario.document.public.periods} periods (models, baseline, rounds)")
    if out is None:
        with _step(log, negotiation):
            outcome = negotiate(None, checkpoint)
        return finish(outcome, None)
    folder = prepare_run_folder(Path(out), force=force, resume=checkpoint,
                                scenario=scenario.document)
    if log is not None:
        log.print(f"results folder: {folder.working}"
                  + (f" (moved to {folder.target} when the run succeeds)"
                     if folder.staged else ""))
    with folder.running():
        with _step(log, negotiation):
            outcome = negotiate(folder.working, folder.resume_path(checkpoint))
        result = finish(outcome, folder.working)
        final = folder.finish(OK if result.converged else str(result.status), result.message)
    if final != folder.target and log is not None:
        log.print(f"{folder.target} holds a good result: this run's results are in {final}")
    return replace(result, folder=final)


def _step(log: ProgressLog | None, what: str) -> AbstractContextManager[None]:
    return log.step(what) if log is not None else nullcontext()


def _finish(scenario: Scenario, outcome: Any, folder: Path | None,
            reference: bool, placement: dict[str, Any] | None = None,
            log: ProgressLog | None = None) -> RunResult:
    """The reference beside the outcome (when asked and the mechanism has one), the results
    folder written (with a folder)."""
    plugin = mechanism_plugin(scenario.mechanism)
    if reference and plugin.with_reference is not None:
        from ptn.lab.references.by_mechanism import reference_solver

        solver = reference_solver(plugin.name, scenario.document.reference_time_limit_s)
        if solver is not None:
            with _step(log, "centralized reference (full information)"):
                outcome = plugin.with_reference(outcome, scenario.document, solver)
    result = RunResult(scenario, outcome, folder, placement)
    if folder is not None:
        with _step(log, "writing results"):
            result.write(folder)
        if reference:  # the experimenter's full-information figures: they read every table
            from ptn.coordinator.results.index_page import write_index_page
            from ptn.lab.studies.network_figures import write_network_figures

            with _step(log, "full-information figures (link flows, feeder, DLMPs)"):
                write_network_figures(scenario.document, result.outcome, folder)
                write_index_page(folder)
    return result


def _spec_for_processes(scenario: Scenario, backend: str, folder: Path | None) -> str:
    """What an operator process loads: the scenario's file or name, or a copy of a changed
    scenario written for it (``<out>/scenario.toml``; relative paths in it resolve against
    that folder)."""
    if scenario.spec is not None or backend != "grpc":
        return scenario.spec or scenario.document.source
    if folder is None:
        raise InvalidInputError("backend 'grpc' with a changed scenario needs out= (the "
                                "operator processes load the scenario from a file there)")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scenario.toml"
    path.write_text(scenario.to_toml(), encoding="utf-8")
    return str(path)


def sweep(campaign: Campaign | Mapping[str, Any] | str | Path, *,
          out: str | Path | None = None, concurrency: int | None = None,
          backend: str | None = None, ray_address: str | None = None, force: bool = False,
          metrics_port: int | None = None, placement: str | Path | None = None,
          progress: Callable[[CampaignCounts], None] | None = None) -> pd.DataFrame:
    """Run a campaign (a campaign file, its parsed tables, or a
    :class:`ptn.campaign.spec.Campaign`): one negotiation per trial, the table of their rows.

    ``out``: the campaign folder (default ``results/<campaign name>``): ``campaign.parquet``,
    ``campaign.csv``, ``trials/<id>/``, ``plots/``; trials finished there by an earlier run
    are kept, and a folder of a changed campaign is refused unless ``force``. ``concurrency``
    and ``backend`` replace the file's; ``ray_address`` joins a Ray cluster; ``metrics_port``
    serves the campaign's Prometheus gauges; ``placement``: a TOML file whose ``[placement]``
    replaces the base scenario's; ``progress`` is called with the counts as they change.
    """
    from ptn.campaign.progress import CampaignMetrics
    from ptn.campaign.runner import prepare, run_campaign
    from ptn.campaign.spec import Campaign, load_campaign, parse_campaign
    from ptn.metrics_endpoint import serve_metrics

    if isinstance(campaign, Campaign):
        parsed = campaign
    elif isinstance(campaign, Mapping):
        parsed = parse_campaign(dict(campaign), base_directory=Path.cwd())
    else:
        parsed = load_campaign(campaign)
    if concurrency is not None and concurrency < 1:
        raise InvalidInputError(f"--concurrency must be at least 1, got {concurrency}")
    folder = Path(out) if out is not None else Path("results") / parsed.name
    run = prepare(parsed, folder, force=force, backend=backend,
                  placement=placement_overrides(placement) if placement is not None else None)
    metrics = CampaignMetrics.create()
    serve_metrics(metrics_port, metrics.registry)
    return run_campaign(run, concurrency=concurrency, ray_address=ray_address,
                        metrics=metrics, progress=progress)


def default_results_folder(scenario: Scenario) -> Path:
    """``results/<scenario name>``, where ``ptn run`` writes by default."""
    return results_folder(scenario.document, None)


__all__ = ["InvalidInputError", "OverrideError", "RunResult", "Scenario", "coordinate",
           "placement_overrides", "run", "sweep"]
