"""The operator's replies kept for answering retries: keyed by method and request id, checked
against the request's content, bounded in count and in bytes.

Why this module exists: a coordinator retries a call that may not have arrived with the same
request id, and the operator must answer it with its first reply instead of applying it twice
(a retry that arrives while the first is still being computed waits for it). A cache keyed by
the request id alone gave a replayed id with other content the old reply, an id reused on
another method a reply of the wrong type, and grew without bound on huge ids (issue 15). Here
an entry is keyed by ``(method, request_id)`` and holds the SHA-256 digest of the request's
bytes: the same key with other content is refused (``ALREADY_EXISTS``); entries are evicted
oldest first beyond :data:`REPLY_CACHE_SIZE` entries or :data:`REPLY_CACHE_BYTES` bytes (the
host refuses request ids longer than :data:`~ptn.services.host.MAX_ID_CHARS` before they get
here).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from ptn.services.refusal import RequestRefusedError

#: replies kept for answering retries
REPLY_CACHE_SIZE = 4096
#: bytes of replies (and their keys) kept for answering retries
REPLY_CACHE_BYTES = 64 * 1024 * 1024
#: what an entry costs beyond its reply and key (digest, event, bookkeeping), bytes
ENTRY_OVERHEAD_BYTES = 256


def request_digest(request: bytes) -> bytes:
    """The digest a repeated request must match."""
    return hashlib.sha256(request).digest()


class CachedReply:
    """A request's reply, or its computation in progress, which retries wait for."""

    def __init__(self, digest: bytes) -> None:
        self.digest = digest
        self.done = threading.Event()
        self.reply = b""
        self.refusal: RequestRefusedError | None = None
        #: the bytes this entry counts in its cache (0 until its reply is kept)
        self.size = 0

    def wait(self) -> bytes:
        """The reply once computed (a refusal of the first request refuses its retries)."""
        self.done.wait()
        if self.refusal is not None:
            raise self.refusal
        return self.reply


@dataclass(frozen=True)
class Claim:
    """The cache's answer to a request: its entry, and whether this request computes it."""

    entry: CachedReply
    first: bool


class ReplyCache:
    """Replies by ``(method, request_id)``, oldest evicted first beyond the bounds."""

    def __init__(self, max_entries: int = REPLY_CACHE_SIZE,
                 max_bytes: int = REPLY_CACHE_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], CachedReply] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """The bytes the completed entries take."""
        return self._bytes

    def lookup(self, method: str, request_id: str, digest: bytes) -> CachedReply | None:
        """The entry of a request seen before (None: unseen); refuses other content."""
        with self._lock:
            return self._matching(method, request_id, digest)

    def claim(self, method: str, request_id: str, digest: bytes) -> Claim:
        """The request's entry, created (``first``) unless one exists; refuses other content."""
        with self._lock:
            entry = self._matching(method, request_id, digest)
            if entry is not None:
                return Claim(entry, False)
            entry = CachedReply(digest)
            self._entries[(method, request_id)] = entry
            self._evict()
            return Claim(entry, True)

    def complete(self, method: str, request_id: str, entry: CachedReply, reply: bytes) -> None:
        """The first request's reply: kept, and handed to the retries waiting for it."""
        entry.reply = reply
        with self._lock:
            if self._entries.get((method, request_id)) is entry:
                entry.size = _size(method, request_id, reply)
                self._bytes += entry.size
                self._evict()
        entry.done.set()

    def refuse(self, method: str, request_id: str, entry: CachedReply,
               refusal: RequestRefusedError) -> None:
        """The first request was refused: forget it (a later one may be served) and refuse
        the retries waiting for it."""
        entry.refusal = refusal
        with self._lock:
            if self._entries.get((method, request_id)) is entry:
                del self._entries[(method, request_id)]
        entry.done.set()

    def seed(self, method: str, request_id: str, digest: bytes, reply: bytes) -> None:
        """A reply given before a restart (from the saved state)."""
        entry = CachedReply(digest)
        with self._lock:
            if (method, request_id) in self._entries:
                return
            self._entries[(method, request_id)] = entry
        self.complete(method, request_id, entry, reply)

    def _matching(self, method: str, request_id: str, digest: bytes) -> CachedReply | None:
        entry = self._entries.get((method, request_id))
        if entry is not None and entry.digest != digest:
            raise RequestRefusedError(
                "ALREADY_EXISTS", f"request id {request_id!r} of {method} was used for a "
                "request with other content")
        return entry

    def _evict(self) -> None:
        """Drop the oldest entries beyond the bounds (under the lock)."""
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, entry = self._entries.popitem(last=False)
            self._bytes -= entry.size


def _size(method: str, request_id: str, reply: bytes) -> int:
    return len(reply) + len(method) + len(request_id) + ENTRY_OVERHEAD_BYTES
