"""Regenerate ``negotiation/v1/*_pb2*.py`` (``ptn.protocol.v1``) from ``protos/negotiation/v1``.

Why this module exists: the generated code is checked in (so installing ptn needs no protoc),
and this is the one command that rewrites it: ``python protos/regenerate.py`` from a checkout
(a development tool: it is not installed). It needs ``grpcio-tools`` (in the ``test`` extra).
protoc writes absolute imports (``from negotiation.v1 import common_pb2``); they are made
relative, and the module name it gives the message classes (``negotiation.v1.common_pb2``) is
made the installed one (``ptn.protocol.v1.common_pb2``), because the code installs as
``ptn.protocol.v1``. :func:`compiled_descriptors` serves
the currency test, which compares the checked-in descriptors with a fresh compilation,
independent of the generator's version.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPOSITORY / "protos"
PROTO_DIRECTORY = PROTO_ROOT / "negotiation" / "v1"


def proto_files() -> list[Path]:
    """The schema's ``.proto`` files, sorted."""
    return sorted(PROTO_DIRECTORY.glob("*.proto"))


def _protoc(arguments: list[str]) -> None:
    from grpc_tools import protoc  # a development tool, not a runtime dependency

    include = str(Path(protoc.__file__).parent / "_proto")
    code = protoc.main(["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{include}", *arguments])
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")


#: protoc's import of a sibling schema module, made relative
_ABSOLUTE_IMPORT = re.compile(r"^from negotiation\.v1 import ", re.M)
#: protoc's module name of the generated classes, made the installed module's
_MODULE_NAME = re.compile(r"'negotiation\.v1\.(\w+_pb2)'")


def regenerate(output: Path = REPOSITORY) -> list[Path]:
    """Write the message, type-stub and service modules under ``output/negotiation/v1``, with
    relative imports between them."""
    files = [str(path.relative_to(PROTO_ROOT)) for path in proto_files()]
    _protoc([f"--python_out={output}", f"--pyi_out={output}", f"--grpc_python_out={output}",
             *files])
    written = sorted((output / "negotiation" / "v1").glob("*_pb2*.py*"))
    for path in written:
        text = _ABSOLUTE_IMPORT.sub("from . import ", path.read_text("utf-8"))
        path.write_text(_MODULE_NAME.sub(r"'ptn.protocol.v1.\1'", text), "utf-8")
    return written


def compiled_descriptors() -> dict[str, bytes]:
    """Serialized ``FileDescriptorProto`` of each schema file, compiled now from the sources."""
    from google.protobuf import descriptor_pb2

    files = [str(path.relative_to(PROTO_ROOT)) for path in proto_files()]
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / "schema.bin"
        _protoc([f"--descriptor_set_out={target}", *files])
        descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(target.read_bytes())
    for file in descriptor_set.file:
        _drop_json_names(file.message_type)
    return {file.name: file.SerializeToString(deterministic=True)
            for file in descriptor_set.file}


def _drop_json_names(messages: Any) -> None:
    """protoc's descriptor sets carry json_name; the generated modules' descriptors do not."""
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _drop_json_names(message.nested_type)


if __name__ == "__main__":
    for path in regenerate():
        print(path.relative_to(REPOSITORY))
    sys.exit(0)
