"""A row's outputs from real summaries (written by ``ptn run`` of pricing-seed001, seed 1, and
of the default scenario in 2 periods): the numbers are read off the files by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ptn.campaign.rows import nodes, outputs

DATA = Path(__file__).parent / "data"


def test_the_pricing_games_row_has_its_variants_and_the_worst_epsilon() -> None:
    summary = json.loads((DATA / "pricing-seed001-summary.json").read_text("utf-8"))
    row = outputs(summary)
    # nash: 25 rounds, ε 11.54 $; cooperative: 18 rounds, ε 120.74 $ (summary.json)
    assert row["rounds"] == 43
    assert (row["rounds_nash"], row["rounds_cooperative"]) == (25, 18)
    assert row["epsilon_usd_nash"] == pytest.approx(11.540577678453701)
    assert row["epsilon_usd"] == row["epsilon_usd_cooperative"] == pytest.approx(120.73694001)
    assert math.isnan(row["gap"]) and math.isnan(row["reference_cost_usd"])


def test_the_admm_row_has_costs_saving_and_gap() -> None:
    summary = json.loads((DATA / "admm-summary.json").read_text("utf-8"))
    row = outputs(summary)
    # agreed 154472.39, baseline 154594.89, centralized 154472.30 (summary.json)
    assert row["agreed_cost_usd"] == pytest.approx(154472.3924, abs=1e-3)
    assert row["baseline_cost_usd"] == pytest.approx(154594.8852, abs=1e-3)
    assert row["saving_usd"] == pytest.approx(154594.8852 - 154472.3924, abs=1e-3)
    assert row["gap"] == pytest.approx((154472.3924 - 154472.3020) / 154472.3020, rel=1e-3)
    assert math.isnan(row["epsilon_usd"])


def test_nodes_are_sorted_and_deduplicated() -> None:
    placement = {"backend": "ray", "operators": {
        "dso": {"node_id": "b", "host": "h1"}, "traffic": {"node_id": "a", "host": "h1"},
        "cno": {"node_id": "b", "host": "h1"}}}
    assert nodes(placement) == ("a;b", "h1")
    assert nodes({"backend": "inproc", "note": "ignored"}) == ("", "")
    assert nodes(None) == ("", "")
