"""The largest message each RPC of the shipped scenarios sends, against the gRPC size limit.

Why this exists: the operators' servers and the coordinator's endpoints refuse messages over
``ptn.services.adapters.limits.MAX_MESSAGE_BYTES`` (a bound on what one hostile message can make
a server allocate), so the limit must fit the largest legitimate message. This runs each shipped
scenario's negotiation in this process (operators in-process: every call is still a serialized
``negotiation.v1`` message), reads its transcript (every request and reply as JSON with the
schema's field names), re-encodes each message with the method's input or output type and
reports the largest serialized size per role and method.

Run: ``python -m bench.message_sizes [SCENARIO ...]`` (default: every shipped scenario; the
Sioux Falls ones need the TNTP data, ``PTN_TNTP_DIR``); writes ``bench/results/message_sizes.md``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from google.protobuf import json_format

import ptn
from ptn.protocol.schema import service_methods
from ptn.services.adapters.limits import MAX_MESSAGE_BYTES

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"
SCENARIOS = ("nguyen-dupuis-ieee33", "pricing-seed001", "pricing-siouxfalls",
             "profit-sharing-nguyen-dupuis", "profit-sharing-seed000", "seed002-sue-der",
             "seed003-siouxfalls-ieee30")


def largest_messages(name: str) -> dict[tuple[str, str, str], int]:
    """(role, method, request|reply) -> the largest serialized size (bytes) in a run of
    ``name``."""
    scenario = ptn.Scenario.load(name)
    roles = {operator_id: scenario.document.part(operator_id).role
             for operator_id in scenario.document.operator_ids}
    sizes: dict[tuple[str, str, str], int] = {}
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "run"
        ptn.run(scenario, backend="inproc", out=out, reference=False)
        with (out / "transcript.jsonl").open(encoding="utf-8") as lines:
            for line in lines:
                entry = json.loads(line)
                if entry.get("direction") not in ("request", "reply"):
                    continue
                role = roles[entry["operator_id"]]
                spec = service_methods(role)[entry["method"]]
                kind = spec.input_type if entry["direction"] == "request" else spec.output_type
                size = json_format.ParseDict(entry["message"], kind()).ByteSize()
                key = (role, entry["method"], entry["direction"])
                sizes[key] = max(sizes.get(key, 0), size)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    arguments = parser.parse_args()
    rows = []
    for name in arguments.scenarios:
        for (role, method, direction), size in sorted(largest_messages(name).items()):
            rows.append((name, role, method, direction, size))
    largest = max(rows, key=lambda row: row[-1])
    table = ["| scenario | role | method | message | largest (bytes) |", "|---|---|---|---|---|"]
    table += [f"| {n} | {r} | {m} | {d} | {s:,} |" for n, r, m, d, s in rows]
    summary = (f"largest: {largest[-1]:,} bytes ({largest[0]}, {largest[1]}.{largest[2]} "
               f"{largest[3]}); limit {MAX_MESSAGE_BYTES:,} bytes "
               f"({MAX_MESSAGE_BYTES / largest[-1]:.0f} times as large)")
    text = "\n".join(["# Largest messages per RPC", "", summary, "", *table, ""])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "message_sizes.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
