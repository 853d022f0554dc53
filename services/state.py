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

With the model's state the file holds, written in the same atomic write, the replies of the
operator's latest state-changing requests (:class:`SavedReply`, bounded by the host) and the
highest round served per negotiation id: an operator killed after applying a request but
before its reply arrived answers the coordinator's retry from the saved reply instead of
applying the request twice, and still refuses rounds that go backwards. ``EndNegotiation``
writes the fresh model's state with no negotiation (:meth:`StateStore.clear`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
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
class SavedReply:
    """A reply given to a state-changing request: its method, request id, the digest of the
    request's bytes and the serialized reply."""

    method: str
    request_id: str
    digest: bytes
    reply: bytes

    def to_json(self) -> dict[str, str]:
        return {"method": self.method, "request_id": self.request_id,
                "digest": self.digest.hex(), "reply": base64.b64encode(self.reply).decode()}

    @classmethod
    def from_json(cls, data: Any, what: str) -> SavedReply:
        if not isinstance(data, dict) or not all(
                isinstance(data.get(key), str)
                for key in ("method", "request_id", "digest", "reply")):
            raise InvalidInputError(f"{what}: expected method, request_id, digest and reply")
        try:
            return cls(data["method"], data["request_id"], bytes.fromhex(data["digest"]),
                       base64.b64decode(data["reply"], validate=True))
        except (ValueError, binascii.Error) as error:
            raise InvalidInputError(f"{what}: unreadable ({error})") from None


@dataclass(frozen=True)
class SavedState:
    """A model's snapshot and the negotiation of the request after which it was saved (empty:
    none), with the replies of its latest state-changing requests and the highest round
    served per negotiation id."""

    negotiation_id: str
    model: dict[str, Any]
    replies: tuple[SavedReply, ...] = ()
    rounds: dict[str, int] = field(default_factory=dict)


class StateStore:
    """``state.json`` of one operator in its private directory."""

    def __init__(self, directory: Path, role: str, operator_id: str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / STATE_FILE
        self.role = role
        self.operator_id = operator_id
        self._saved_model_text: str | None = None
        #: the negotiation id, replies and rounds last written or loaded
        self._saved_extras: tuple[str, list[Any], dict[str, int]] = ("", [], {})

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
        replies = data.get("replies", [])
        rounds = data.get("rounds", {})
        if not isinstance(replies, list):
            raise InvalidInputError(f"{self.path}: replies: expected a list; delete the file "
                                    "to start afresh")
        if not isinstance(rounds, dict) or not all(
                isinstance(key, str) and isinstance(value, int) and not isinstance(value, bool)
                and value >= 0 for key, value in rounds.items()):
            raise InvalidInputError(f"{self.path}: rounds: expected negotiation ids and "
                                    "rounds; delete the file to start afresh")
        saved_replies = tuple(SavedReply.from_json(reply, f"{self.path}: replies[{k}]")
                              for k, reply in enumerate(replies))
        self._saved_model_text = _canonical(data["model"])
        self._saved_extras = (data["negotiation_id"], replies, rounds)
        return SavedState(data["negotiation_id"], data["model"], saved_replies, dict(rounds))

    def save(self, negotiation_id: str, model_state: dict[str, Any],
             replies: tuple[SavedReply, ...] = (), rounds: dict[str, int] | None = None) -> bool:
        """Write the state if the model's snapshot, or the rounds, changed since the last one
        written or loaded (the replies go with them); whether it wrote."""
        model_text = _canonical(model_state)
        rounds = dict(rounds or {})
        if model_text == self._saved_model_text and rounds == self._saved_extras[2]:
            return False
        saved_replies = [reply.to_json() for reply in replies]
        # the document as json.dumps(..., sort_keys=True) writes it, the model's text reused
        header = {"format": STATE_FORMAT, "negotiation_id": negotiation_id,
                  "operator_id": self.operator_id, "role": self.role,
                  "replies": saved_replies, "rounds": rounds}
        fields = {key: json.dumps(value, sort_keys=True) for key, value in header.items()}
        fields["model"] = model_text
        _write_atomically(self.path, "{" + ", ".join(
            f"{json.dumps(key)}: {fields[key]}" for key in sorted(fields)) + "}")
        self._saved_model_text = model_text
        self._saved_extras = (negotiation_id, saved_replies, rounds)
        return True

    def clear(self, fresh_model_state: dict[str, Any]) -> None:
        """Forget the negotiation: the fresh model's state, no replies, no rounds (written
        only if a file exists)."""
        if not self.path.exists():
            self.mark_saved(fresh_model_state)
            return
        self._saved_model_text = None
        self.save("", fresh_model_state)

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
