"""The DSO resumes: a host restored from its ``state.json`` answers as the uninterrupted one.

On the real pricing-game DSO (its OPF and its fitted-response pricing problem): a negotiation
of quotes (seeded random trials, then the fitted OPF), an ADMM step, a dispatch and cost reports
is interrupted after the ADMM step; a new host built on the same private folder restores the
pricing history (quotes, observed loads, the random generator) and re-solves the ADMM step, and
every later reply equals the uninterrupted host's to 1e-6: the cost report right after the
restart, the remaining trial quotes, the fitted quotes, and the dispatch revenue at the last one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ptn.protocol.v1 import common_pb2
from tests.support.operators import (
    Step,
    assert_same_replies,
    consensus_step,
    cost_request,
    header,
    operator_part,
    periods_of,
    resumed_replies,
    series,
)

STATIONS = ("cs7", "cs9", "cs10", "cs12")
NEGOTIATION = "3fa2c1/nash"  # a part of a run: the base "3fa2c1" decides the restore


def quote(k: int) -> Step:
    """The k-th quote request; from the second on, with the loads observed at the previous one."""
    def step(replies: list[Any]) -> tuple[str, Any]:
        signal = common_pb2.LoadSignal(header=header("dso", f"q{k}", NEGOTIATION))
        if k:
            loads = np.full((4, periods_of("dso")), 1.5 - 0.05 * k) \
                + 0.1 * np.arange(4)[:, None]
            signal.load_mw.CopyFrom(series(STATIONS, loads))
        return "QuotePrices", signal
    return step


def fixed(method: str, request: Any) -> Step:
    return lambda replies: (method, request)


def test_a_restored_dso_answers_as_the_uninterrupted_one(tmp_path: Path) -> None:
    periods = periods_of("dso")
    steps = [quote(0), quote(1), quote(2),
             fixed("ConsensusStep", consensus_step("dso", "c1", STATIONS, periods,
                                                   np.linspace(60, 120, 4)[:, None], 0.8, 25.0,
                                                   NEGOTIATION)),
             fixed("ReportCost", cost_request("dso", "r1", NEGOTIATION)),
             *(quote(k) for k in range(3, 9)),
             fixed("Dispatch", common_pb2.LoadSignal(
                 header=header("dso", "d1", NEGOTIATION),
                 load_mw=series(STATIONS, np.full((4, periods), 1.1)))),
             fixed("ReportCost", cost_request("dso", "r2", NEGOTIATION))]
    expected, resumed = resumed_replies(operator_part("dso"), steps, 4, tmp_path)
    assert [reply.header.status for reply in expected] == [reply.header.status
                                                           for reply in resumed]
    trials = [reply.trial for reply in expected if isinstance(reply, common_pb2.PriceReply)]
    assert trials[:5] == [True] * 5 and not any(trials[6:])  # fitted quotes were compared too
    assert np.isfinite(expected[-2].revenue)  # the dispatch's revenue at its last quote
    assert_same_replies(expected, resumed)
