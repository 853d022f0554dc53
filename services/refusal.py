"""A request the host will not serve at all, with the transport status that says why.

Why this module exists: most bad requests get an in-band reply (``STATUS_INVALID_REQUEST`` naming
the field), but some must not be answered as if they were part of the negotiation: a request of
another negotiation than the one the operator serves, a round that goes backwards, a request id
replayed with other content, a caller over the concurrency cap. The host raises
:class:`RequestRefusedError` for those, and each transport turns it into its own refusal: the
gRPC adapter aborts the RPC with the status named by ``code`` (a name of ``grpc.StatusCode``,
kept as text here because the host and the models import no grpc), the in-process and Ray
endpoints raise a non-retryable ``CallFailedError`` (reason ``refused``). A refusal changes no
state.
"""

from __future__ import annotations

#: the transport statuses a refusal may carry (names of ``grpc.StatusCode``)
REFUSAL_CODES = frozenset({
    "INVALID_ARGUMENT",      # malformed beyond an in-band reply (e.g. an oversized request id)
    "FAILED_PRECONDITION",   # another negotiation is being served, or the round went backwards
    "ALREADY_EXISTS",        # a request id replayed with other content
    "RESOURCE_EXHAUSTED",    # too many concurrent calls (load shedding) or too large a request
    "DEADLINE_EXCEEDED",     # the caller's deadline passed before the call could start
    "UNAUTHENTICATED",       # no or wrong credentials
    "PERMISSION_DENIED",     # an authenticated caller that may not make this call
})


class RequestRefusedError(Exception):
    """A request refused before it reached the model; ``code`` names a ``grpc.StatusCode``."""

    def __init__(self, code: str, message: str) -> None:
        if code not in REFUSAL_CODES:
            raise ValueError(f"unknown refusal code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
