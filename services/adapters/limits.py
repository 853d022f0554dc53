"""The gRPC limits both ends of a connection agree on: message size and keepalive.

Why this module exists: the operator's server (:mod:`ptn.services.adapters.grpc_server`) and the
coordinator's endpoint (:mod:`ptn.coordinator.runtime.transports`) must use the same message size
limit, and the server must accept the keepalive pings the client sends; one module states both.
It imports nothing, so the coordinator can read it without loading grpc.
"""

from __future__ import annotations

#: the largest request or reply sent or accepted. The largest message of the shipped scenarios,
#: measured over whole runs, is 30.7 kB (a CNO's BestRespond turn of pricing-siouxfalls; its
#: ProbeResponses 29.5 kB; docs/runtime.md, "Security"): 4 MiB leaves a 100-fold margin for
#: larger networks and horizons and bounds what one hostile message can make a server allocate.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

#: the coordinator pings every 30 s, also during a long call, and drops a connection that does not
#: answer within 10 s
CLIENT_PING_INTERVAL_MS = 30_000
CHANNEL_KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", CLIENT_PING_INTERVAL_MS),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
)

#: the server pings an idle connection every 60 s, drops it after 20 s without an answer, and
#: accepts the coordinator's pings (anything more often than every 20 s counts as a strike)
SERVER_KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", CLIENT_PING_INTERVAL_MS * 2 // 3),
    ("grpc.http2.max_ping_strikes", 5),
)
