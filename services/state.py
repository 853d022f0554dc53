"""An operator's state on disk, for resuming a negotiation: ``<private dir>/state.json``.

Why this module exists: a coordinator that resumes an interrupted negotiation (issue 14, item 3)
needs every operator to continue from where it was, not from scratch (the DSO's pricing history
and random generator, each operator's latest solve that its cost report refers to). A host given
a private output directory keeps its model's :meth:`~ptn.services.contract.Operator.snapshot`
there after every request that changed it, written atomically (write a temporary file, fsync,
rename, fsync the directory), so a crash leaves the previous or the new state, never half of one.

The rule (:class:`StateStore` and :class:`ptn.services.host.OperatorHost`): on start the host
loads the file; before the first request whose negotiation id has the same *base* as the saved
one (the id up to its first ``/``: a coordinator names the parts of one run ``<run>/<part>``,
e.g. ``3fa2c1/nash``) it restores the model from it; a first request of another negotiation
discards it. The file is the operator's own, beside its private report; it never leaves.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptn.engines.errors import InvalidInputError

LOG = logging.getLogger("ptn.operator")

STATE_FILE = "state.json"
#: the file's format, checked on load
STATE_FORMAT = "ptn-operator-state/1"


def negotiation_base(negotiation_id: str) -> str:
    """The negotiation id up to its first ``/`` (the whole id when it has none)."""
    return negotiation_id.split("/", 1)[0]


@dataclass(frozen=True)
class SavedState:
    """A model's snapshot and the negotiation of the request after which it was saved."""

    negotiation_id: str
    model: dict[str, Any]


class StateStore:
    """``state.json`` of one operator in its private directory."""

    def __init__(self, directory: Path, role: str, operator_id: str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / STATE_FILE
        self.role = role
        self.operator_id = operator_id
        self._saved_model_text: str | None = None

    def load(self) -> SavedState | None:
        """The saved state, None without a file; a damaged file, or another operator's, is
        refused naming the file (delete it to start afresh)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            raise InvalidInputError(f"{self.path}: cannot read the operator's state "
                                    f"({error.strerror or error})") from error
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"{self.path}: not the operator's state (invalid JSON: "
                                    f"{error}); delete it to start afresh") from None
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT \
                or not isinstance(data.get("model"), dict) \
                or not isinstance(data.get("negotiation_id"), str):
            raise InvalidInputError(f"{self.path}: not an operator state of format "
                                    f"{STATE_FORMAT}; delete it to start afresh")
        if (data.get("role"), data.get("operator_id")) != (self.role, self.operator_id):
            raise InvalidInputError(f"{self.path}: the state of {data.get('operator_id')!r} "
                                    f"({data.get('role')}), this is {self.operator_id!r} "
                                    f"({self.role})")
        self._saved_model_text = _canonical(data["model"])
        return SavedState(data["negotiation_id"], data["model"])

    def save(self, negotiation_id: str, model_state: dict[str, Any]) -> bool:
        """Write the state if the model's snapshot changed since the last one written or
        loaded; whether it wrote."""
        model_text = _canonical(model_state)
        if model_text == self._saved_model_text:
            return False
        # the document as json.dumps(..., sort_keys=True) writes it, the model's text reused
        header = {"format": STATE_FORMAT, "negotiation_id": negotiation_id,
                  "operator_id": self.operator_id, "role": self.role}
        fields = {key: json.dumps(value) for key, value in header.items()}
        fields["model"] = model_text
        _write_atomically(self.path, "{" + ", ".join(
            f"{json.dumps(key)}: {fields[key]}" for key in sorted(fields)) + "}")
        self._saved_model_text = model_text
        return True

    def mark_saved(self, model_state: dict[str, Any]) -> None:
        """Treat ``model_state`` as already on disk (a fresh model's own state needs no file)."""
        self._saved_model_text = _canonical(model_state)


def _canonical(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash leaves the old or the new file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(directory)
    except OSError:  # pragma: no cover - file systems that cannot sync a directory
        LOG.debug("cannot fsync %s", path.parent)
    finally:
        os.close(directory)
