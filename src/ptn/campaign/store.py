"""A campaign's folder: its identity, one durable row per finished trial, the tables.

Why this module exists: a campaign of hundreds of negotiations is killed, loses a node, or is
extended; it must lose at most the trials in flight. Each finished trial's row is appended to
``rows.jsonl`` and flushed to disk (fsync) before the next is counted; ``campaign.parquet`` and
``campaign.csv`` are rewritten from it. ``campaign.json`` holds the campaign's fingerprint: a
folder of another campaign (or of this one with a changed file or base scenario) is refused
unless ``force``, which sets the old rows aside (``rows-<fingerprint>.jsonl``) and starts
afresh.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ptn.api import InvalidInputError
from ptn.campaign.rows import OUTPUTS

MANIFEST = "campaign.json"
ROWS = "rows.jsonl"
PARQUET = "campaign.parquet"
CSV = "campaign.csv"
TRIALS = "trials"
#: a row's status when the trial raised (an actor or node lost, a bug) rather than ended
CRASHED = "crashed"
#: a row's status when its overrides or placement were refused as invalid input
INVALID = "invalid"
#: the negotiation statuses of a trial that ended (ptn.coordinator.outcome.NegotiationStatus)
ENDED = ("converged", "not_converged", "failed")
LEADING = ("trial_id", "repetition")
TRAILING = ("status", "reason", *OUTPUTS, "nodes", "hosts", "attempts", "folder",
            "started_at", "finished_at")


class CampaignStore:
    """The rows of one campaign folder."""

    def __init__(self, folder: Path, columns: tuple[str, ...]) -> None:
        self.folder = folder
        #: the varied keys and seed keys, the columns between the leading and trailing ones
        self.columns = columns
        self.rows: dict[str, dict[str, Any]] = {}
        self.last_written = 0.0

    @classmethod
    def open(cls, folder: Path, manifest: dict[str, Any], columns: tuple[str, ...], *,
             force: bool = False) -> CampaignStore:
        """The store of ``folder`` for the campaign described by ``manifest`` (its
        ``fingerprint`` must match the folder's, unless ``force``)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / MANIFEST
        store = cls(folder, columns)
        if path.exists():
            try:
                previous = json.loads(path.read_text("utf-8"))
                old = str(previous["fingerprint"])
            except (ValueError, KeyError, TypeError) as error:
                raise InvalidInputError(f"{path}: not a campaign manifest ({error})") from error
            if old != manifest["fingerprint"]:
                if not force:
                    raise InvalidInputError(
                        f"{folder} holds campaign {previous.get('name')!r} with fingerprint "
                        f"{old}; this campaign's is {manifest['fingerprint']} (its file or "
                        "base scenario changed): use another --out folder, or --force to "
                        "set the old rows aside and start afresh")
                rows = folder / ROWS
                if rows.exists():
                    rows.rename(folder / f"rows-{old}.jsonl")
        path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
        store.rows = read_rows(folder / ROWS)
        end_last_line(folder / ROWS)
        return store

    def finished(self) -> dict[str, dict[str, Any]]:
        """Rows a resumed campaign keeps (a crashed trial is run again)."""
        return {tid: row for tid, row in self.rows.items() if row["status"] != CRASHED}

    def append(self, row: dict[str, Any]) -> None:
        """Record a finished trial durably, then refresh the tables (at most every few
        seconds: ``flush`` writes them at the end)."""
        line = json.dumps(row, default=str, allow_nan=True)
        with open(self.folder / ROWS, "a", encoding="utf-8") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())
        self.rows[row["trial_id"]] = row
        if time.monotonic() - self.last_written > 5.0:
            self.flush()

    def table(self) -> pd.DataFrame:
        """One row per trial (the latest attempt), in the campaign's column order."""
        order = [*LEADING, *self.columns, *TRAILING]
        frame = pd.DataFrame(list(self.rows.values()))
        for column in order:
            if column not in frame:
                frame[column] = math.nan if column in OUTPUTS else None
        extra = [c for c in frame.columns if c not in order]
        return frame[order + extra].reset_index(drop=True)

    def flush(self) -> pd.DataFrame:
        """Rewrite ``campaign.parquet`` and ``campaign.csv`` from the rows; the table."""
        frame = self.table()
        frame.to_csv(self.folder / CSV, index=False)
        parquet_ready(frame).to_parquet(self.folder / PARQUET, index=False)
        self.last_written = time.monotonic()
        return frame


def parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns of mixed types (a ``choice`` of numbers and names) as text, which
    Parquet's one-type columns need."""
    fixed = frame.copy()
    for column in fixed.columns:
        if fixed[column].dtype == object:
            kinds = {type(v) for v in fixed[column] if v is not None
                     and not (isinstance(v, float) and math.isnan(v))}
            if len(kinds) > 1 or (kinds and not kinds <= {str, int, float, bool}):
                fixed[column] = fixed[column].map(lambda v: None if v is None else str(v))
    return fixed


def end_last_line(path: Path) -> None:
    """A row cut short by a kill ends its line, so the next row starts on one of its own."""
    if path.exists() and path.stat().st_size > 0:
        with open(path, "rb+") as file:
            file.seek(-1, os.SEEK_END)
            if file.read(1) != b"\n":
                file.write(b"\n")


def read_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The rows of ``rows.jsonl`` by trial id (the last line of a trial wins; a line cut
    short by a kill is skipped)."""
    rows: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return rows
    for line in path.read_text("utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "trial_id" in row and "status" in row:
            rows[str(row["trial_id"])] = row
    return rows
