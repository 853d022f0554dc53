"""The services of the ``negotiation.v1`` schema, looked up by role: names, methods, messages.

Why this module exists: both sides of the boundary need the same facts about a role's service
(its fully qualified gRPC name, its methods and their message classes): the coordinator's
transports to send and parse, the operators' host to decode and encode. They come from the
generated descriptors, never from a hand-kept list.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from google.protobuf import message_factory
from google.protobuf.message import Message

from ptn.engines.errors import InvalidInputError
from ptn.protocol.v1 import services_pb2

PACKAGE = "negotiation.v1"
#: the gRPC service of each role (protos/negotiation/v1/services.proto)
SERVICE_OF_ROLE = {
    "dso": "DsoOperator",
    "traffic": "TrafficDepartment",
    "tno": "TnoOperator",
    "cno": "CnoOperator",
}
#: seconds; operators' calls range from sub-millisecond (Describe) to minutes (city-scale
#: equilibria): the latency histograms of both sides share these buckets
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                   30.0, 60.0)


@dataclass(frozen=True)
class MethodSpec:
    """One RPC of a service: its name and its message classes."""

    name: str
    input_type: type[Message]
    output_type: type[Message]


class UnknownMethodError(LookupError):
    """The role's service has no such method, or this operator does not implement it."""


def service_name(role: str) -> str:
    """Fully qualified gRPC service name of a role, e.g. ``negotiation.v1.DsoOperator``."""
    if role not in SERVICE_OF_ROLE:
        raise InvalidInputError(f"unknown role {role!r} (known: {', '.join(SERVICE_OF_ROLE)})")
    return f"{PACKAGE}.{SERVICE_OF_ROLE[role]}"


@cache
def service_methods(role: str) -> dict[str, MethodSpec]:
    """The methods of a role's service, from the generated descriptors."""
    service_name(role)  # refuses an unknown role
    descriptor = services_pb2.DESCRIPTOR.services_by_name[SERVICE_OF_ROLE[role]]
    return {
        method.name: MethodSpec(
            method.name,
            message_factory.GetMessageClass(method.input_type),
            message_factory.GetMessageClass(method.output_type),
        )
        for method in descriptor.methods
    }
