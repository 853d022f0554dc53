"""The transcript of a negotiation: every request, reply and failure as one JSON line.

Why this module exists: a negotiation between companies must be auditable after the fact, and
the transcript is the record of exactly what crossed the boundary (the schema's messages, with
their field names), appended as the calls happen, safe to write from concurrent calls.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message


class Transcript:
    """Every message of a negotiation as JSON lines (appends; thread-safe; nothing without a
    path)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entry: dict[str, Any]) -> None:
        if self.path is None:
            return
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry}
        line = json.dumps(entry, allow_nan=True, separators=(",", ":"))
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def message_dict(message: Message) -> dict[str, Any]:
    """A message as a JSON-able dict with the schema's field names."""
    data: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return data
