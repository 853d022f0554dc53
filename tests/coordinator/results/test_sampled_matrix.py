"""A sampled revenue matrix in the game's results: the summary and the comparison say which
profiles it holds; a full one says nothing more than before."""

from __future__ import annotations

from dataclasses import replace

from ptn.coordinator.results.pricing_game import format_comparison, game_summary
from tests.coordinator.results.test_pricing_game import synthetic_game

SAMPLED = "6 of the 2^2 profiles: a sentence naming the sample"


def test_the_selection_is_in_the_summary_and_the_comparison() -> None:
    full = synthetic_game()
    assert full.revenue_matrix is not None
    assert game_summary(full)["revenue_matrix"]["selection"] == "all"
    assert "Profiles evaluated" not in format_comparison(full)
    sampled = replace(full, revenue_matrix=replace(full.revenue_matrix, selection=SAMPLED))
    assert game_summary(sampled)["revenue_matrix"]["selection"] == SAMPLED
    assert f"Profiles evaluated: {SAMPLED}." in format_comparison(sampled)
