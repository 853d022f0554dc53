"""The mechanisms a scenario may name, each a plug-in over the one driver.

Why this module exists: the runner, the CLI and the Python API look a mechanism up here by the
scenario's ``coordinator.mechanism`` and never compare its name: a plug-in says how to build the
mechanism from a scenario (:mod:`ptn.coordinator.runtime.mechanism`'s hooks: rounds, state,
outcome; round fields and gauges), how its outcome reads as ``summary.json``, as tables, on the
terminal and in a results folder, how a round reads as a progress line, and whether a
full-information reference can be set beside its outcome. A new mechanism is one module of
hooks, one of results, and one entry here (docs/runtime.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pandas as pd

from ptn.coordinator.mechanisms import joint_coordination, pricing_game, profit_sharing
from ptn.coordinator.mechanisms.joint_coordination import ReferenceSolver
from ptn.coordinator.outcome import RoundRecord
from ptn.coordinator.results import joint_coordination as joint_results
from ptn.coordinator.results import pricing_game as game_results
from ptn.coordinator.results import profit_sharing as sharing_results
from ptn.coordinator.runtime.mechanism import Mechanism, RoundGauge
from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import MECHANISM_ROLES, Scenario

OutcomeT = TypeVar("OutcomeT")


@dataclass(frozen=True)
class MechanismPlugin(Generic[OutcomeT]):
    """One mechanism: its hooks and how its results read."""

    name: str
    build: Callable[[Scenario], Mechanism[OutcomeT]]
    round_fields: tuple[str, ...]
    round_gauges: tuple[RoundGauge, ...]
    summary: Callable[[OutcomeT], dict[str, Any]]
    tables: Callable[[OutcomeT], dict[str, pd.DataFrame]]
    write_results: Callable[[OutcomeT, Path, Scenario], list[Path]]
    format_summary: Callable[[OutcomeT], str]
    progress_line: Callable[[RoundRecord, float], str]
    #: sets a full-information reference beside the outcome; None: the mechanism has none
    with_reference: Callable[[OutcomeT, Scenario, ReferenceSolver], OutcomeT] | None = None

    @property
    def roles(self) -> tuple[str, ...]:
        """The operator roles a scenario needs for this mechanism."""
        return MECHANISM_ROLES[self.name]


def _admm_results(outcome: Any, out: Path, scenario: Scenario) -> list[Path]:
    return joint_results.write_results_folder(outcome, out)


def _game_results(outcome: Any, out: Path, scenario: Scenario) -> list[Path]:
    return game_results.write_game_folder(outcome, out,
                                          tolerance=scenario.coordinator.tolerance)


def _sharing_results(outcome: Any, out: Path, scenario: Scenario) -> list[Path]:
    return sharing_results.write_profit_sharing_folder(outcome, out)


MECHANISMS: dict[str, MechanismPlugin[Any]] = {
    plugin.name: plugin for plugin in (
        MechanismPlugin(
            name=joint_coordination.JointCoordination.name,
            build=joint_coordination.JointCoordination,
            round_fields=joint_coordination.JointCoordination.round_fields,
            round_gauges=joint_coordination.JointCoordination.round_gauges,
            summary=joint_results.results_summary, tables=joint_results.result_tables,
            write_results=_admm_results, format_summary=joint_results.format_summary_table,
            progress_line=joint_results.progress_line,
            with_reference=joint_coordination.with_reference),
        MechanismPlugin(
            name=pricing_game.PricingGame.name, build=pricing_game.PricingGame,
            round_fields=pricing_game.PricingGame.round_fields,
            round_gauges=pricing_game.PricingGame.round_gauges,
            summary=game_results.game_summary, tables=game_results.result_tables,
            write_results=_game_results, format_summary=game_results.format_game_summary,
            progress_line=game_results.progress_line),
        MechanismPlugin(
            name=profit_sharing.ProfitSharing.name, build=profit_sharing.ProfitSharing,
            round_fields=profit_sharing.ProfitSharing.round_fields,
            round_gauges=profit_sharing.ProfitSharing.round_gauges,
            summary=sharing_results.profit_sharing_summary,
            tables=sharing_results.result_tables,
            write_results=_sharing_results,
            format_summary=sharing_results.format_profit_sharing_summary,
            progress_line=joint_results.progress_line),
    )
}


def mechanism_plugin(name: str) -> MechanismPlugin[Any]:
    """The plug-in of a mechanism name (a scenario's names are validated on load)."""
    if name not in MECHANISMS:
        raise InvalidInputError(f"unknown mechanism {name!r} (known: {', '.join(MECHANISMS)})")
    return MECHANISMS[name]
