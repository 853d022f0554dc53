"""Several exchanges of one mechanism advanced side by side, their probes merged into one batch.

Why this module exists: the driver runs the calls of one phase concurrently and answers them by
operator id (:mod:`ptn.coordinator.runtime.mechanism`), but a CNO's best response is an exchange
of its own (:func:`~ptn.coordinator.mechanisms.best_response.cno_turn`), one call per phase.
Played one after another (Algorithm 1's in-turn order, the ε-certificate's entries as first
written) every phase holds one call and the driver's concurrency is never used. When the
exchanges do not depend on each other (each certificate entry is a CNO's best response against
the same final prices; a simultaneous round's best responses all answer the prices in force),
:func:`run_together` advances them in lock step: each phase is the union of their calls, the
CNOs' ``BestRespond`` calls run concurrently, and the probes they ask of the traffic department
(``ProbeResponses``, several per phase, to one operator) are merged into one ``PriceProbes``
batch, cut into messages of at most ``max_probes`` probes when it is larger (then sent in
successive phases), and the loads are handed back to each exchange in its own order. Whatever
``max_probes`` says, a message holds no more probes than fit in half of gRPC's message limit
(:data:`~ptn.services.adapters.limits.MAX_MESSAGE_BYTES`; the loads of the reply are as large):
100 stations × 4 periods is about 4 kB a probe, so a city's certificate batch of 800 probes
goes in two messages.

Only ``ProbeResponses`` calls are merged: two other calls to one operator in one phase are a
programming error (:class:`ValueError`). A reply whose probe count differs from the merged
request's is an :class:`~ptn.engines.errors.InvalidInputError` (a reply is untrusted).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message

from ptn.coordinator.runtime.mechanism import Call, Exchange
from ptn.engines.errors import InvalidInputError
from ptn.protocol.v1 import games_pb2
from ptn.services.adapters.limits import MAX_MESSAGE_BYTES

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

#: the one RPC whose calls to one operator in one phase are merged
MERGED_METHOD = "ProbeResponses"
#: the bytes of probes one merged message may carry (its reply's loads are as large)
MESSAGE_BUDGET_BYTES = MAX_MESSAGE_BYTES // 2
#: bytes of framing per probe in a message beside the series itself
PROBE_FRAMING_BYTES = 8


@dataclass(frozen=True)
class _Share:
    """Which exchange asked which probes of a merged batch: ``key``'s call, probes
    ``start:stop`` of the batch."""

    key: Hashable
    start: int
    stop: int


def run_together(exchanges: Mapping[K, Exchange[T]], *, max_probes: int | None = None
                 ) -> Exchange[dict[K, T]]:
    """Advance ``exchanges`` side by side (module docstring); their results by key.

    ``max_probes``: the most probes one merged ``ProbeResponses`` message carries (None: no
    limit); a larger batch goes in several messages, one per phase.
    """
    if max_probes is not None and max_probes < 1:
        raise ValueError(f"max_probes must be at least 1, got {max_probes}")
    results: dict[K, T] = {}
    pending: dict[K, list[Call]] = {}
    for key, exchange in exchanges.items():
        try:
            pending[key] = next(exchange)
        except StopIteration as done:
            results[key] = done.value
    while pending:
        replies = yield from _one_phase(pending, max_probes)
        for key in list(pending):
            try:
                pending[key] = exchanges[key].send(replies[key])
            except StopIteration as done:
                results[key] = done.value
                del pending[key]
    return {key: results[key] for key in exchanges}


def _one_phase(pending: Mapping[K, list[Call]], max_probes: int | None
               ) -> Exchange[dict[K, dict[str, Message]]]:
    """One phase of every pending exchange: the calls merged, the replies split back."""
    by_operator: dict[str, list[tuple[K, Call]]] = {}
    for key, calls in pending.items():
        for call in calls:
            by_operator.setdefault(call.operator_id, []).append((key, call))
    single: list[Call] = []
    merged: dict[str, tuple[Call, list[_Share]]] = {}
    for operator_id, asked in by_operator.items():
        if len(asked) == 1 and asked[0][1].method != MERGED_METHOD:
            single.append(asked[0][1])
        else:
            merged[operator_id] = _merge(operator_id, asked)
    chunks = {operator_id: _chunks(call, max_probes) for operator_id, (call, _) in merged.items()}
    replies: dict[K, dict[str, Message]] = {key: {} for key in pending}
    loads: dict[str, list[Any]] = {operator_id: [] for operator_id in merged}
    headers: dict[str, Message] = {}
    privacy: dict[str, Any] = {}  # the latest privacy account each merged operator sent
    phase = 0
    while True:
        calls = list(single) if phase == 0 else []
        calls += [parts[phase] for parts in chunks.values() if phase < len(parts)]
        if not calls:
            break
        answers = yield calls
        for call in calls:
            answer: Any = answers[call.operator_id]
            if call.operator_id not in merged:
                owner = next(key for key, c in by_operator[call.operator_id] if c is call)
                replies[owner][call.operator_id] = answer
                continue
            probes = len(call.request.price_per_mwh)  # type: ignore[attr-defined]
            if len(answer.load_mw) != probes:
                raise InvalidInputError(f"operator {call.operator_id} answered "
                                        f"{len(answer.load_mw)} of {probes} probes")
            loads[call.operator_id].extend(answer.load_mw)
            if answer.HasField("privacy"):  # phases run in turn: the last is the latest
                privacy[call.operator_id] = answer.privacy
            seen: Any = headers.get(call.operator_id)
            if seen is None or answer.header.status > seen.status:  # INEXACT outranks OK
                headers[call.operator_id] = answer.header
        phase += 1
    for operator_id, (_, shares) in merged.items():
        for share in shares:
            reply = games_pb2.LoadResponses(load_mw=loads[operator_id][share.start:share.stop])
            reply.header.CopyFrom(headers[operator_id])
            if operator_id in privacy:
                reply.privacy.CopyFrom(privacy[operator_id])
            replies[share.key][operator_id] = reply  # type: ignore[index]
    return replies


def _merge(operator_id: str, asked: list[tuple[K, Call]]) -> tuple[Call, list[_Share]]:
    """One ``PriceProbes`` request of every exchange's probes, and who asked which."""
    first = asked[0][1]
    for _, call in asked:
        if call.method != MERGED_METHOD or call.scope != first.scope:
            raise ValueError(f"exchanges run together called operator {operator_id} more than "
                             f"once in a phase ({call.method} in scope {call.scope!r}); only "
                             f"{MERGED_METHOD} calls of one scope are merged")
    request = games_pb2.PriceProbes()
    shares = []
    for key, call in asked:
        probes = call.request.price_per_mwh  # type: ignore[attr-defined]
        start = len(request.price_per_mwh)
        request.price_per_mwh.extend(probes)
        shares.append(_Share(key, start, len(request.price_per_mwh)))
    return Call(operator_id, MERGED_METHOD, request, first.scope), shares


def probes_per_message(call: Call, max_probes: int | None) -> int:
    """The most probes of a merged call one message carries: ``max_probes``, and no more than
    fit in :data:`MESSAGE_BUDGET_BYTES` (module docstring)."""
    probes = call.request.price_per_mwh  # type: ignore[attr-defined]
    largest = max((p.ByteSize() for p in probes), default=0) + PROBE_FRAMING_BYTES
    fit = max(1, MESSAGE_BUDGET_BYTES // largest)
    return fit if max_probes is None else min(fit, max_probes)


def _chunks(call: Call, max_probes: int | None) -> list[Call]:
    """A merged call as messages of at most :func:`probes_per_message` probes."""
    probes = call.request.price_per_mwh  # type: ignore[attr-defined]
    size = probes_per_message(call, max_probes)
    if len(probes) <= size:
        return [call]
    return [Call(call.operator_id, call.method,
                 games_pb2.PriceProbes(price_per_mwh=probes[start:start + size]), call.scope)
            for start in range(0, len(probes), size)]
