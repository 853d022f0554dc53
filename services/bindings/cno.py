"""A CNO's binding: the ``CnoOperator`` service's ``BestRespond`` onto :class:`CnoOperator`.

Why this module exists: a CNO's model speaks domain values (:mod:`ptn.services.cno.contract`);
this table decodes each turn, calls the model and encodes its move, typed end to end. A turn
without probe loads starts a search; one with them answers its probes (their count is checked
before they are decoded, so an out-of-turn answer is refused as such). ``ReportCost`` is not
bound (UNIMPLEMENTED). Prices beyond ±:data:`~ptn.engines.coupling.MAX_ABS_PRICE_PER_MWH`,
loads beyond ±:data:`~ptn.engines.coupling.MAX_ABS_TARGET_LOAD_MW` and unknown best-response
methods are refused naming the field.
"""

from __future__ import annotations

from ptn.engines.coupling import MAX_ABS_PRICE_PER_MWH, MAX_ABS_TARGET_LOAD_MW
from ptn.engines.errors import InvalidInputError
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.services.bindings.base import Answer, Binding, Rpc, describe
from ptn.services.cno.contract import CnoOperator, GameMove, TurnStart

_METHOD_OF_REQUEST = {games_pb2.BEST_RESPONSE_METHOD_UNSPECIFIED: None,
                      games_pb2.BEST_RESPONSE_METHOD_AEM: "aem",
                      games_pb2.BEST_RESPONSE_METHOD_EXACT: "exact"}


def best_respond(model: CnoOperator, request: games_pb2.PriceGameTurn) -> Answer:
    """``BestRespond``: one step of its turn."""
    facts = model.describe()
    stations, periods = facts.stations, facts.periods
    if not request.probe_load_mw:
        if request.method not in _METHOD_OF_REQUEST:
            raise InvalidInputError(f"method: unknown best-response method {request.method}")
        move = model.start_turn(TurnStart(
            from_series(request.purchase_price_per_mwh, stations, periods,
                        "purchase_price_per_mwh", MAX_ABS_PRICE_PER_MWH, "$/MWh"),
            from_series(request.current_price_per_mwh, stations, periods,
                        "current_price_per_mwh", MAX_ABS_PRICE_PER_MWH, "$/MWh"),
            _METHOD_OF_REQUEST[request.method]))
    else:
        model.expect_probes(len(request.probe_load_mw))
        move = model.answer_probes([from_series(series, stations, periods,
                                                f"probe_load_mw[{k}]", MAX_ABS_TARGET_LOAD_MW,
                                                "MW")
                                    for k, series in enumerate(request.probe_load_mw)])
    return Answer(_move_reply(stations, move), move)


def _move_reply(stations: tuple[str, ...], move: GameMove) -> games_pb2.PriceGameMove:
    if move.price_per_mwh is None:
        return games_pb2.PriceGameMove(
            probe_price_per_mwh=[to_series(stations, p) for p in move.probe_price_per_mwh])
    return games_pb2.PriceGameMove(
        price_per_mwh=to_series(stations, move.price_per_mwh), revenue=move.revenue_usd,
        start_revenue=move.start_revenue_usd, probes=move.probes)


CNO_BINDING: Binding[CnoOperator] = Binding("cno", (
    Rpc("Describe", common_pb2.DescribeRequest, describe, changes_state=False),
    Rpc("BestRespond", games_pb2.PriceGameTurn, best_respond),
))
