"""A CNO resumes in the middle of its turn: a restored host answers as the uninterrupted one.

On the pricing game's first CNO: its turn is interrupted after it asked its probes; a new host on
the same private folder replays the turn's start and the probe answers it had (the search is
deterministic), so the rest of the turn and the next turn (with its last prices in force) give
the uninterrupted host's probes, prices and revenues to 1e-6.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ptn.protocol.codec import from_series
from ptn.protocol.v1 import common_pb2, games_pb2
from tests.support.operators import (
    Step,
    assert_same_replies,
    header,
    operator_part,
    periods_of,
    resumed_replies,
    series,
)

STATIONS = ("cs7", "cs9")


def turn_step(request_id: str) -> Step:
    """Start a turn from the last prices answered (200 $/MWh before any), or answer the last
    move's probes with a linear load response."""
    periods = periods_of("cno")

    def step(replies: list[Any]) -> tuple[str, Any]:
        last = replies[-1] if replies else None
        message = games_pb2.PriceGameTurn(
            header=header("cno1", request_id, "game/nash"),
            purchase_price_per_mwh=series(STATIONS, np.full((2, periods), 110.0)))
        if last is not None and last.probe_price_per_mwh:
            message.probe_load_mw.extend(
                series(STATIONS, np.maximum(0.0, 6.0 - 0.02 * from_series(
                    probe, STATIONS, periods, "probe")) + 0.3 * np.arange(2)[:, None])
                for probe in last.probe_price_per_mwh)
        current = np.full((2, periods), 200.0) if last is None \
            else from_series(last.price_per_mwh, STATIONS, periods, "price") \
            if last.HasField("price_per_mwh") else np.full((2, periods), 200.0)
        message.current_price_per_mwh.CopyFrom(series(STATIONS, current))
        return "BestRespond", message

    return step


def test_a_restored_cno_continues_its_turn(tmp_path: Path) -> None:
    steps = [turn_step(f"t{k}") for k in range(8)]
    expected, resumed = resumed_replies(operator_part("cno"), steps, 1, tmp_path)
    assert all(reply.header.status == common_pb2.STATUS_OK for reply in expected)
    finished = [k for k, reply in enumerate(expected) if reply.HasField("price_per_mwh")]
    assert finished and finished[0] < len(steps) - 1  # a turn ended and another began
    assert_same_replies(expected, resumed)
