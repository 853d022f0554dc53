"""The negotiation.v1 schema: checked-in generated code is current, and its shape holds."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from ptn.protocol.v1 import common_pb2, services_pb2
from tests.support import load_development_tool

pytest.importorskip("grpc_tools", reason="grpcio-tools (test extra) regenerates the protos")

regenerate = load_development_tool("protos/regenerate.py")
compiled_descriptors, proto_files = regenerate.compiled_descriptors, regenerate.proto_files


def test_generated_code_matches_the_proto_sources() -> None:
    fresh = compiled_descriptors()
    assert set(fresh) == {f"negotiation/v1/{p.name}" for p in proto_files()}
    for name, serialized in fresh.items():
        stem = name.removeprefix("negotiation/").removesuffix(".proto").replace("/", ".")
        module = importlib.import_module(f"ptn.protocol.{stem}_pb2")
        checked_in = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(checked_in)
        current = descriptor_pb2.FileDescriptorProto.FromString(serialized)
        assert checked_in == current, (
            f"{name} changed since its code was generated: run python protos/regenerate.py"
        )


def test_grpc_stubs_list_every_method() -> None:
    source = Path(services_pb2.__file__).with_name("services_pb2_grpc.py").read_text()
    for service in services_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            assert f"/negotiation.v1.{service.name}/{method.name}" in source


def test_every_request_carries_the_envelope_and_every_reply_a_status() -> None:
    for service in services_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            request, reply = method.input_type, method.output_type
            header = request.fields_by_name.get("header")
            assert header is not None and header.message_type.full_name == \
                "negotiation.v1.RequestHeader", f"{method.full_name} request lacks the header"
            assert reply.fields_by_name["header"].message_type.full_name == \
                "negotiation.v1.ReplyHeader", f"{method.full_name} reply lacks the status header"
    envelope = {f.name for f in common_pb2.RequestHeader.DESCRIPTOR.fields}
    assert envelope == {"negotiation_id", "round", "operator_id", "request_id"}


def test_one_service_per_role() -> None:
    assert set(services_pb2.DESCRIPTOR.services_by_name) == {
        "DsoOperator", "TrafficDepartment", "TnoOperator", "CnoOperator"}
