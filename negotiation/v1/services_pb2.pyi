from . import common_pb2 as _common_pb2
from . import games_pb2 as _games_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
