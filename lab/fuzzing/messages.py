"""A seeded generator of hostile requests for an operator's RPCs: mutated real ones and junk.

Why this module exists: the claim that no message from the network crashes, hangs or changes an
operator is only tested by sending the messages an attacker (or a broken coordinator) would:
real requests of a negotiation with one part changed (numbers replaced by 0, -0, ±1e300, NaN,
±inf, subnormals, huge or negative integers; series of wrong periods or lengths, unknown or
duplicate stations; headers with another operator id, empty or huge request ids, another
negotiation id, rounds going backwards or huge; long probe lists), another method's message,
truncated encodings, and random bytes. Every message is a function of the seed, so a finding is
reproduced from (seed, role, method, index) or from the bytes the battery saves.

Samples: the requests a real in-process negotiation sends (:func:`record_requests`), plus, for
methods it does not use, requests shaped from the operator's public description
(:func:`shaped_request`: its stations and periods).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.coordinator.runtime.transports import Endpoint, InProcessEndpoint
from ptn.protocol.schema import MethodSpec, service_methods
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import Scenario

#: the part of the negotiation that byte-level damage is sent in
BYTES_PART = "bytes"

#: floats that break arithmetic: zeros of both signs, overflow, NaN, infinities, subnormals
NASTY_FLOATS = (0.0, -0.0, 1e300, -1e300, math.nan, math.inf, -math.inf, 5e-324, -5e-324,
                2.2250738585072014e-308, 1.7976931348623157e308, -1.0, 1e18, -1e18, 1e-300,
                -1e-12, 4.9e8)
#: unsigned 32-bit values (rounds, periods)
NASTY_UINT32 = (0, 1, 2, 3, 1000, 2**31 - 1, 2**31, 2**32 - 1)
#: signed 32-bit values (enums, counts)
NASTY_INT32 = (-(2**31), -1, 0, 3, 99, 2**31 - 1)
#: request ids other than fresh unique ones (empty, huge, control characters, non-ASCII)
ODD_IDS = ("", " ", "\x00", "../../etc/passwd", "é" * 40, "x" * 4096)

DOUBLE_TYPES = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)
INT_TYPES = (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_ENUM,
             FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_INT64)


@dataclass(frozen=True)
class Fuzzed:
    """One generated request: its bytes, how it was made, and whether its header is the
    legitimate one (addressed to the operator, of the current negotiation, a fresh id)."""

    kind: str
    data: bytes


class RecordingEndpoint(InProcessEndpoint):
    """An in-process endpoint that keeps every request it sends, by method."""

    def __init__(self, inner: InProcessEndpoint) -> None:
        super().__init__(inner.host)
        self.sent: list[tuple[str, bytes]] = []

    def _send(self, method: str, data: bytes, timeout_s: float) -> bytes:
        self.sent.append((method, data))
        return super()._send(method, data, timeout_s)


def record_requests(scenario: Scenario) -> dict[str, list[tuple[str, bytes]]]:
    """Every request a real in-process negotiation of ``scenario`` sends, by operator id."""
    recording: dict[str, Endpoint] = {}
    for operator_id, endpoint in inproc_endpoints(scenario).items():
        assert isinstance(endpoint, InProcessEndpoint)
        recording[operator_id] = RecordingEndpoint(endpoint)
    negotiate(scenario, recording)
    return {operator_id: list(endpoint.sent)  # type: ignore[attr-defined]
            for operator_id, endpoint in recording.items()}


def _header(message: Message) -> common_pb2.RequestHeader | None:
    if "header" not in message.DESCRIPTOR.fields_by_name:
        return None
    header: common_pb2.RequestHeader = message.header  # type: ignore[attr-defined]
    return header


def shaped_request(spec: MethodSpec, stations: list[str], periods: int,
                   rng: random.Random) -> Message:
    """A request of ``spec`` with every series over the operator's stations and periods and
    plausible numbers (prices 20-300 $/MWh, loads 0-2 MW, shares in [0, 1])."""
    message = spec.input_type()
    _fill(message, stations, periods, rng)
    return message


def _fill(message: Message, stations: list[str], periods: int, rng: random.Random) -> None:
    for field in message.DESCRIPTOR.fields:
        name = field.name
        if field.message_type is not None:
            if field.message_type.name == "RequestHeader":
                continue
            if field.message_type.name == "StationSeries":
                count = rng.randint(1, 3) if _is_repeated(field) else 1
                for _ in range(count):
                    series = (getattr(message, name).add() if _is_repeated(field)
                              else getattr(message, name))
                    series.stations.extend(stations)
                    series.periods = periods
                    scale = 2.0 if "load" in name else 280.0
                    series.values.extend(20.0 * ("price" in name) + rng.random() * scale
                                         for _ in range(len(stations) * periods))
            continue
        if _is_repeated(field):
            continue
        if field.type in DOUBLE_TYPES:
            setattr(message, name, rng.random() if "share" in name else rng.random() * 100.0)
        elif field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, name, "fuzz")
        elif field.type == FieldDescriptor.TYPE_BOOL:
            setattr(message, name, rng.random() < 0.5)


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _leaves(message: Message) -> Iterator[tuple[Message, FieldDescriptor]]:
    """Every (message, scalar field) below ``message``, headers included."""
    for field in message.DESCRIPTOR.fields:
        if field.message_type is not None:
            if _is_repeated(field):
                for item in getattr(message, field.name):
                    yield from _leaves(item)
            elif message.HasField(field.name):
                yield from _leaves(getattr(message, field.name))
        else:
            yield message, field


def _series(message: Message) -> list[Message]:
    """Every StationSeries in a message."""
    found: list[Message] = []
    for field in message.DESCRIPTOR.fields:
        if field.message_type is None or field.message_type.name != "StationSeries":
            continue
        if _is_repeated(field):
            found.extend(getattr(message, field.name))
        elif message.HasField(field.name):
            found.append(getattr(message, field.name))
    return found


class MessageFuzzer:
    """Seeded hostile requests for one RPC of one operator.

    ``samples``: legitimate requests of the method (decoded); the generator copies one, stamps
    the header it is given (operator id, negotiation id, a fresh request id), then mutates.
    ``others``: legitimate requests of the service's other methods (for type confusion).
    """

    def __init__(self, spec: MethodSpec, samples: list[Message], others: list[bytes], *,
                 operator_id: str, negotiation_id: str, seed: int,
                 rounds: Iterator[int] | None = None) -> None:
        if not samples:
            raise ValueError(f"no sample request of {spec.name}")
        self.spec = spec
        self.samples = samples
        self.others = others
        self.operator_id = operator_id
        self.negotiation_id = negotiation_id
        self.rng = random.Random(f"{seed}/{operator_id}/{spec.name}")
        self.counter = 0
        #: the rounds of legitimate headers: shared by the generators of one operator, so
        #: that rounds go forwards across its RPCs, as a coordinator's do
        self.rounds = rounds if rounds is not None else itertools.count(1)
        self.mutations: list[tuple[str, float, Callable[[Message], None]]] = [
            ("number", 30.0, self._number),
            ("numbers", 8.0, self._numbers),
            ("series", 20.0, self._series_shape),
            ("header", 12.0, self._header_field),
            ("probes", 3.0, self._probe_list),
            ("scalars", 5.0, self._scalars),
        ]

    def fresh_id(self) -> str:
        self.counter += 1
        return f"fuzz-{self.spec.name}-{self.counter}-{self.rng.getrandbits(32):08x}"

    def legitimate(self, part: str = "") -> Message:
        """A copy of a sample with a legitimate header and a fresh request id (``part``: in
        that part of the negotiation, ``<negotiation>/<part>``)."""
        message = self.spec.input_type()
        message.CopyFrom(self.rng.choice(self.samples))
        header = _header(message)
        if header is not None:
            header.operator_id = self.operator_id
            header.negotiation_id = f"{self.negotiation_id}/{part}" if part \
                else self.negotiation_id
            header.request_id = self.fresh_id()
            # rounds go forwards across every RPC's generator, as a coordinator's do: a round
            # going backwards is a mutation of its own, not the battery's accident
            header.round = next(self.rounds)
        return message

    def __iter__(self) -> Iterator[Fuzzed]:
        return self

    def __next__(self) -> Fuzzed:
        """The next hostile request (structured mutations mostly, bytes-level ones too)."""
        roll = self.rng.random()
        if roll < 0.04:
            size = self.rng.choice((0, 1, 2, 7, 64, 1000, 65536))
            return Fuzzed("random bytes", self.rng.randbytes(size))
        # byte-level damage is done in a part of the negotiation of its own: a flipped bit of a
        # round must not make every later round of the battery "go backwards"
        if roll < 0.09:
            data = self.legitimate(BYTES_PART).SerializeToString()
            return Fuzzed("truncated", data[: self.rng.randrange(max(len(data), 1))])
        if roll < 0.12:
            data = bytearray(self.legitimate(BYTES_PART).SerializeToString())
            for _ in range(self.rng.randint(1, 4)):
                if data:
                    data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
            return Fuzzed("bit flips", bytes(data))
        if roll < 0.14:
            data = self.legitimate(BYTES_PART).SerializeToString()
            return Fuzzed("junk appended", data + self.rng.randbytes(self.rng.randint(1, 40)))
        if roll < 0.17 and self.others:
            return Fuzzed("another method's message", self.rng.choice(self.others))
        if roll < 0.20:
            return Fuzzed("legitimate", self.legitimate().SerializeToString())
        kinds, weights, mutators = zip(*self.mutations, strict=True)
        index = self.rng.choices(range(len(kinds)), weights=weights)[0]
        message = self.legitimate()
        mutators[index](message)
        return Fuzzed(kinds[index], message.SerializeToString())

    # ------------------------------------------------------------------ mutations
    def _replace_leaf(self, message: Message) -> None:
        leaves = [(owner, field) for owner, field in _leaves(message)
                  if owner.DESCRIPTOR.name != "RequestHeader"]
        if not leaves:
            return
        owner, field = self.rng.choice(leaves)
        if _is_repeated(field):
            values = getattr(owner, field.name)
            if field.type in DOUBLE_TYPES and len(values):
                values[self.rng.randrange(len(values))] = self.rng.choice(NASTY_FLOATS)
            return
        if field.type in DOUBLE_TYPES:
            setattr(owner, field.name, self.rng.choice(NASTY_FLOATS))
        elif field.type in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64):
            setattr(owner, field.name, self.rng.choice(NASTY_UINT32))
        elif field.type in INT_TYPES:
            setattr(owner, field.name, self.rng.choice(NASTY_INT32))
        elif field.type == FieldDescriptor.TYPE_STRING:
            setattr(owner, field.name, self.rng.choice(ODD_IDS))
        elif field.type == FieldDescriptor.TYPE_BOOL:
            setattr(owner, field.name, not getattr(owner, field.name))

    def _number(self, message: Message) -> None:
        self._replace_leaf(message)

    def _numbers(self, message: Message) -> None:
        """Many numbers at once: a whole series set to one nasty value, or several leaves."""
        series = _series(message)
        if series and self.rng.random() < 0.5:
            chosen = self.rng.choice(series)
            value = self.rng.choice(NASTY_FLOATS)
            for index in range(len(chosen.values)):  # type: ignore[attr-defined]
                chosen.values[index] = value if self.rng.random() < 0.5 \
                    else -value  # type: ignore[attr-defined]
            return
        for _ in range(self.rng.randint(2, 6)):
            self._replace_leaf(message)

    def _scalars(self, message: Message) -> None:
        """Every scalar double of the message (penalties, shares, amounts) set to extremes."""
        value = self.rng.choice(NASTY_FLOATS)
        for owner, field in _leaves(message):
            if field.type in DOUBLE_TYPES and not _is_repeated(field):
                setattr(owner, field.name, value)
        for series in _series(message):
            for index in range(len(series.values)):  # type: ignore[attr-defined]
                series.values[index] = self.rng.choice((value, -value))  # type: ignore[attr-defined]

    def _series_shape(self, message: Message) -> None:
        series = _series(message)
        if not series:
            self._replace_leaf(message)
            return
        target: Any = self.rng.choice(series)
        choice = self.rng.randrange(11)
        stations = list(target.stations)
        if choice == 0:
            target.periods = self.rng.choice(NASTY_UINT32)
        elif choice == 1:
            target.periods = target.periods + self.rng.choice((-1, 1)) if target.periods else 1
        elif choice == 2 and len(target.values):
            del target.values[-1]
        elif choice == 3:
            target.values.append(1.0)
        elif choice == 4:
            del target.values[:]
        elif choice == 5:
            target.values.extend([1.0] * self.rng.choice((1000, 20000)))
        elif choice == 6 and stations:
            target.stations[self.rng.randrange(len(stations))] = self.rng.choice(
                ("no-such-station", "", "\x00", "s" * 1000))
        elif choice == 7 and stations:
            target.stations[-1] = stations[0]
        elif choice == 8:
            del target.stations[:]
        elif choice == 9 and stations:
            target.stations.append(stations[0] + "-extra")
            target.values.extend([1.0] * max(target.periods, 1))
        else:
            # many stations, matching values: a large but well-formed matrix
            extra = self.rng.choice((10, 200))
            target.stations.extend(f"ghost-{i}" for i in range(extra))
            target.values.extend([1.0] * extra * max(target.periods, 1))

    def _header_field(self, message: Message) -> None:
        header = _header(message)
        if header is None:
            self._replace_leaf(message)
            return
        choice = self.rng.randrange(8)
        if choice == 0:
            header.operator_id = self.rng.choice(("dso", "traffic", "tno", "cno1", "",
                                                  self.operator_id + " ", "x" * 300))
        elif choice == 1:
            header.request_id = self.rng.choice(ODD_IDS)
        elif choice == 2:
            header.request_id = "r" * self.rng.choice((65536, 262144)) + self.fresh_id()
        elif choice == 3:
            header.negotiation_id = self.rng.choice((
                "", "other-negotiation", f"{self.negotiation_id}-other",
                f"{self.negotiation_id}/variant", "n" * 10000))
        elif choice == 4:
            header.round = 0
        elif choice == 5:
            # in a part of the negotiation of its own, so that the legitimate rounds after it
            # are not refused as going backwards (which would test nothing else afterwards)
            header.round = self.rng.choice((2**31, 2**32 - 1, 10**6))
            header.negotiation_id = f"{self.negotiation_id}/huge-round"
        elif choice == 6:
            header.request_id = f"fuzz-{self.spec.name}-1-replay"  # a replayed id, new content
        else:
            header.Clear()

    def _probe_list(self, message: Message) -> None:
        """Repeated series (probes, probe answers) made long."""
        for field in message.DESCRIPTOR.fields:
            if _is_repeated(field) and field.message_type is not None \
                    and field.message_type.name == "StationSeries":
                items = getattr(message, field.name)
                if len(items):
                    template = items[0]
                    for _ in range(self.rng.choice((20, 64, 150))):
                        items.add().CopyFrom(template)
                    return
        self._series_shape(message)


def samples_by_method(role: str, requests: list[tuple[str, bytes]]) -> dict[str, list[Message]]:
    """Recorded requests decoded and grouped by method."""
    methods = service_methods(role)
    found: dict[str, list[Message]] = {}
    for method, data in requests:
        if method in methods:
            found.setdefault(method, []).append(methods[method].input_type.FromString(data))
    return found
