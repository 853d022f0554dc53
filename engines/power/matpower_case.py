"""MATPOWER case files (format version 2) read without MATLAB, and turned into a :class:`Feeder`.

Why this exists: the DSO engine must accept any MATPOWER distribution case, and MATPOWER's
radial cases (case33bw, case69, case85, case141) store branch impedances in ohm and loads in kW
(case141: kVA at power factor 0.85) and convert them with MATLAB statements *after* the data.
A text parser that reads only the matrices silently gets loads a thousand times too large and
impedances in the wrong unit (pandapower issue #2403). This parser reads the numeric matrices
and re-applies those conversions, recognized by pattern; any other executable statement is
refused with ``file:line``, never skipped.

What is read: ``function mpc = name``; ``mpc.<field> = <literal>`` (a numeric matrix with
``;``/line-end rows, ``,``/blank separators, ``Inf``/``NaN``; a string; a number or a product
or quotient of two; a cell array, kept unread); comments (``%``, ``%{ ... %}``) and ``...``
continuations. What is executed (the forms MATPOWER's distribution cases use,
whitespace-insensitive):

* ``[PQ, PV, ...] = idx_bus;`` (also ``idx_brch``, ``idx_gen``, ``idx_cost``): names bound
  positionally, as MATLAB does;
* ``Vbase = mpc.bus(1, BASE_KV) * 1e3;``, ``Sbase = mpc.baseMVA * 1e6;``, ``pf = 0.85;``
  (a scalar from one bus entry or the base, times an optional number, or a number);
* ``mpc.<bus|branch|gen>(:, COLS) = mpc.<same>(:, COLS2) <*|/> FACTOR;`` with ``FACTOR`` a
  number, a scalar, ``(a^2 / b)`` or ``sin(acos(a))`` — which covers the ohm-to-p.u.
  (``/ (Vbase^2 / Sbase)``), kW-to-MW (``/ 1e3``) and power-factor statements; such a
  statement is executed as written, whatever the columns.

Sources:

* MATPOWER case format: R. D. Zimmerman, C. E. Murillo-Sánchez, *MATPOWER User's Manual*,
  Appendix B "Data File Format" (``CASEFORMAT``), and ``idx_bus``, ``idx_brch``, ``idx_gen``,
  ``idx_cost`` for the column order (1-based in MATLAB, 0-based constants here);
* the conversion code at the end of ``case33bw.m``, ``case69.m``, ``case85.m`` and
  ``case141.m`` in the MATPOWER distribution (``matpower`` package, ``data/``);
* MATPOWER's ``ext2int``: isolated buses (type 4) and the branches and generators touching
  them are left out.

The Feeder that :func:`feeder_from_matpower_case` builds, and what it does with what a feeder
cannot hold:

* buses keep their ``BUS_I`` labels; the slack is the bus of type 3 (exactly one);
* branches out of service (``BR_STATUS`` 0) are dropped; the others are named ``line N`` with N
  the 1-based row in ``mpc.branch`` (rows of dropped branches still count);
* ``BR_R``, ``BR_X`` are used as they are, in p.u. on ``baseMVA`` and each bus's own
  ``BASE_KV`` (which is what MATPOWER does); the feeder's ``base_kv`` is the slack bus's;
* transformer tap ratios (``TAP`` not 0 or 1) are **ignored**: DistFlow works on one voltage
  base with nominal-ratio transformers; phase shifts (``SHIFT``) are ignored too, which is
  exact on a radial feeder (it only rotates the angles downstream); line charging ``BR_B``
  (total susceptance, p.u.) is kept, by default (``line_charging=True``), as bus shunts
  (``Feeder.shunt_b_pu``, half at each end: MATPOWER's π model), which the OPF's balances hold
  exactly (``b·|V|²`` is linear in DistFlow's squared voltage); ``line_charging=False`` drops it;
* rating = ``RATE_A`` in MVA, 0 meaning no limit (``inf``);
* loads = ``PD``, ``QD`` (MW, MVAr). Bus shunts ``GS``, ``BS`` are, by default
  (``shunts="as_load"``), folded into the load as their power at 1 p.u. voltage
  (``P += GS``, ``Q -= BS``), a constant-power stand-in for ``GS·V²`` and ``BS·V²``: a MATPOWER
  user expects a case's capacitor banks (case18 has 10 MVAr of them) to stay in the model, and
  the Feeder has no shunt field. ``shunts="ignore"`` drops them, ``shunts="error"`` refuses a
  case that has any;
* voltage limits ``VMIN``, ``VMAX``; slack voltage = ``VG`` of the in-service generator at the
  slack, else the bus's ``VM``; the upstream bounds are that generator's ``PMIN``, ``PMAX``,
  ``QMIN``, ``QMAX`` and its cost the polynomial (model 2, at most quadratic) row of
  ``mpc.gencost`` (reactive-power cost rows, start-up and shut-down costs are ignored). A case
  without ``mpc.gencost``, or without an in-service generator at the slack, carries no cost for
  its supply point: its feeder says so (``UpstreamCost(has_cost_data=False)``) and the OPF
  prices purchases with a tariff it names instead of a zero objective;
* an in-service generator anywhere but at the slack is refused, naming it (the Feeder has no
  generators; the DER layer models them). Out-of-service generators are ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.feeder import Feeder, UpstreamCost, build_feeder

FloatArray = NDArray[np.float64]

# 0-based column indices (MATPOWER's idx_bus, idx_gen, idx_brch, idx_cost minus one)
BUS_I, BUS_TYPE, PD, QD, GS, BS, BUS_AREA, VM, VA, BASE_KV, ZONE, VMAX, VMIN = range(13)
GEN_BUS, PG, QG, QMAX, QMIN, VG, MBASE, GEN_STATUS, PMAX, PMIN = range(10)
F_BUS, T_BUS, BR_R, BR_X, BR_B, RATE_A, RATE_B, RATE_C, TAP, SHIFT, BR_STATUS = range(11)
MODEL, STARTUP, SHUTDOWN, NCOST, COST = range(5)
REF_BUS_TYPE = 3
ISOLATED_BUS_TYPE = 4
POLYNOMIAL_COST = 2

#: the minimum number of columns MATPOWER needs in each matrix (CASEFORMAT, version 2)
MIN_COLUMNS = {"bus": 13, "gen": 10, "branch": 11, "gencost": 4}

#: the values MATPOWER's index functions return, in the order of their outputs, so that
#: ``[PQ, PV, ...] = idx_bus;`` binds names exactly as MATLAB would (positionally)
INDEX_FUNCTIONS: dict[str, tuple[int, ...]] = {
    "idx_bus": (1, 2, 3, 4, *range(1, 18)),
    "idx_brch": tuple(range(1, 22)),
    "idx_gen": (*range(1, 11), 22, 23, 24, 25, *range(11, 22)),
    "idx_cost": (1, 2, 1, 2, 3, 4, 5),
}

ShuntHandling = Literal["as_load", "ignore", "error"]

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][+-]?\d+)?"
_MATRIX_NUMBER = re.compile(rf"^(?:{_NUMBER}|[+-]?(?:Inf|inf|NaN|nan))$")
_FUNCTION_LINE = re.compile(r"^function\s+(\w+)\s*=\s*\w+$")
_FIELD_ASSIGNMENT = re.compile(r"^(\w+)\.(\w+)\s*=\s*(.*)$", re.DOTALL)
_INDEX_UNPACK = re.compile(r"^\[([\w,]+)\]=(idx_bus|idx_brch|idx_gen|idx_cost)$")
_SCALAR_FROM_BUS = re.compile(
    rf"^(?P<var>\w+)=(?P<s>\w+)\.bus\((?P<row>\d+),(?P<col>\w+)\)(?:\*(?P<k>{_NUMBER}))?$"
)
_SCALAR_FROM_BASE = re.compile(rf"^(?P<var>\w+)=(?P<s>\w+)\.baseMVA(?:\*(?P<k>{_NUMBER}))?$")
_SCALAR_LITERAL = re.compile(rf"^(?P<var>\w+)=(?P<k>{_NUMBER})$")
_COLUMNS = r"\[[\w,]+\]|\w+"
_FACTOR = rf"{_NUMBER}|\w+|\(\w+\^2/\w+\)|sin\(acos\(\w+\)\)"
_COLUMN_SCALING = re.compile(
    rf"^(?P<s>\w+)\.(?P<m>bus|branch|gen)\(:,(?P<lhs>{_COLUMNS})\)="
    rf"(?P=s)\.(?P=m)\(:,(?P<rhs>{_COLUMNS})\)(?P<op>[*/])(?P<f>{_FACTOR})$"
)


@dataclass(frozen=True)
class MatpowerCase:
    """The numeric content of a MATPOWER case after its unit conversions.

    Matrices keep MATPOWER's column order (0-based constants in this module); ``conversions``
    lists the conversion statements that were re-applied, as ``file:line: statement``.
    """

    path: str
    base_mva: float
    bus: FloatArray
    gen: FloatArray
    branch: FloatArray
    gencost: FloatArray | None = None
    extra_matrices: dict[str, FloatArray] = field(default_factory=dict)
    conversions: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Statement:
    text: str
    lines: tuple[int, ...]

    @property
    def line(self) -> int:
        for char, line in zip(self.text, self.lines, strict=True):
            if not char.isspace():
                return line
        return self.lines[0] if self.lines else 0

    def line_at(self, offset: int) -> int:
        return self.lines[min(offset, len(self.lines) - 1)]


def read_matpower_case(path: str | Path) -> MatpowerCase:
    """Parse a MATPOWER version-2 case file and re-apply its unit conversions.

    Raises :class:`InvalidInputError` naming ``file:line`` for a parse error or an unsupported
    MATLAB statement.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InvalidInputError(f"cannot read MATPOWER case {file}: {error}") from error
    return parse_matpower_text(text, str(file))


def parse_matpower_text(text: str, label: str) -> MatpowerCase:
    """Parse the text of a MATPOWER case; ``label`` names the file in error messages."""
    interpreter = _Interpreter(label)
    for statement in _split_statements(text, label):
        interpreter.execute(statement)
    return interpreter.result()


def feeder_from_matpower(
    path: str | Path,
    name: str | None = None,
    *,
    shunts: ShuntHandling = "as_load",
    zero_resistance_x_over_r: float | None = None,
    line_charging: bool = True,
) -> Feeder:
    """Read a MATPOWER case file into a validated :class:`Feeder` (see the module doc)."""
    return feeder_from_matpower_case(
        read_matpower_case(path),
        name,
        shunts=shunts,
        zero_resistance_x_over_r=zero_resistance_x_over_r,
        line_charging=line_charging,
    )


def feeder_from_matpower_case(
    case: MatpowerCase,
    name: str | None = None,
    *,
    shunts: ShuntHandling = "as_load",
    zero_resistance_x_over_r: float | None = None,
    line_charging: bool = True,
) -> Feeder:
    """Build a validated :class:`Feeder` from a parsed case (rules in the module doc).

    DistFlow needs ``r > 0`` on every branch; MATPOWER cases often have ``BR_R = 0`` on
    transformers and bus ties. By default such a branch is refused (naming it); with
    ``zero_resistance_x_over_r = k`` it gets ``r = x / k`` instead (say ``k = 50``, a typical
    X/R of a large transformer), which is how the built-in cases load them.
    """
    feeder_name = name or Path(case.path).stem
    where = f"MATPOWER case {case.path}"
    bus, gen, branch = case.bus, case.gen, case.branch
    if bus.shape[0] == 0:
        raise InvalidInputError(f"{where}: mpc.bus has no rows")
    if "dcline" in case.extra_matrices and case.extra_matrices["dcline"].size:
        raise InvalidInputError(f"{where}: mpc.dcline is not supported in a radial feeder")

    labels = _integer_column(bus[:, BUS_I], where, "mpc.bus row {row}: BUS_I {value!r}")
    bus_type = _integer_column(bus[:, BUS_TYPE], where, "bus {label}: BUS_TYPE {value!r}", labels)
    bad_type = np.flatnonzero((bus_type < 1) | (bus_type > ISOLATED_BUS_TYPE))
    if bad_type.size:
        raise InvalidInputError(
            f"{where}: bus {labels[bad_type[0]]} has BUS_TYPE {bus_type[bad_type[0]]} "
            "(1 PQ, 2 PV, 3 reference, 4 isolated)"
        )
    active = bus_type != ISOLATED_BUS_TYPE
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    if np.any(sorted_labels[1:] == sorted_labels[:-1]):
        duplicate = sorted_labels[1:][sorted_labels[1:] == sorted_labels[:-1]][0]
        raise InvalidInputError(f"{where}: bus {duplicate} is defined twice in mpc.bus")

    def row_of(bus_labels: FloatArray, what: Callable[[int], str]) -> NDArray[np.int64]:
        as_int = np.rint(bus_labels).astype(np.int64)
        slot = np.clip(np.searchsorted(sorted_labels, as_int), 0, sorted_labels.size - 1)
        missing = np.flatnonzero((sorted_labels[slot] != as_int) | (as_int != bus_labels))
        if missing.size:
            raise InvalidInputError(
                f"{where}: {what(int(missing[0]))} refers to bus {bus_labels[missing[0]]:g}, "
                "which is not in mpc.bus"
            )
        return np.asarray(order[slot], dtype=np.int64)

    # bus rows of the feeder: the active ones, in file order
    kept_rows = np.flatnonzero(active)
    position_of_row = np.full(labels.size, -1, dtype=np.int64)
    position_of_row[kept_rows] = np.arange(kept_rows.size)

    from_row = row_of(branch[:, F_BUS], lambda k: f"branch line {k + 1} (FBUS)")
    to_row = row_of(branch[:, T_BUS], lambda k: f"branch line {k + 1} (TBUS)")
    in_service = (branch[:, BR_STATUS] != 0) & active[from_row] & active[to_row]
    branch_rows = np.flatnonzero(in_service)
    branch_ids = tuple(f"line {k + 1}" for k in branch_rows.tolist())
    rating = branch[branch_rows, RATE_A].astype(np.float64)
    rating = np.where(rating == 0.0, np.inf, rating)

    load_p = bus[kept_rows, PD].astype(np.float64)
    load_q = bus[kept_rows, QD].astype(np.float64)
    shunt_g, shunt_b = bus[kept_rows, GS], bus[kept_rows, BS]
    if shunts == "as_load":
        load_p = load_p + shunt_g
        load_q = load_q - shunt_b
    elif shunts == "error":
        bad = np.flatnonzero((shunt_g != 0) | (shunt_b != 0))
        if bad.size:
            raise InvalidInputError(
                f"{where}: bus {labels[kept_rows[bad[0]]]} has a shunt (GS={shunt_g[bad[0]]:g} "
                f"MW, BS={shunt_b[bad[0]]:g} MVAr) and shunts='error'"
            )
    elif shunts != "ignore":
        raise InvalidInputError(f"shunts must be 'as_load', 'ignore' or 'error', not {shunts!r}")

    slack_rows = kept_rows[bus_type[kept_rows] == REF_BUS_TYPE]
    slack_voltage = float(bus[slack_rows[0], VM]) if slack_rows.size else 1.0
    base_kv = float(bus[slack_rows[0], BASE_KV]) if slack_rows.size else 1.0
    bounds = (-np.inf, np.inf, -np.inf, np.inf)
    cost = UpstreamCost(has_cost_data=False)
    if slack_rows.size == 1:
        if not base_kv > 0:
            raise InvalidInputError(
                f"{where}: slack bus {labels[slack_rows[0]]} has BASE_KV {base_kv:g}; a feeder "
                "needs its nominal voltage"
            )
        gen_row = row_of(gen[:, GEN_BUS], lambda k: f"generator {k + 1} (row {k + 1} of mpc.gen)")
        gen_on = (gen[:, GEN_STATUS] > 0) & active[gen_row]
        at_slack = np.flatnonzero(gen_on & (gen_row == slack_rows[0]))
        elsewhere = np.flatnonzero(gen_on & (gen_row != slack_rows[0]))
        if elsewhere.size:
            k = int(elsewhere[0])
            raise InvalidInputError(
                f"{where}: generator {k + 1} (row {k + 1} of mpc.gen) at bus "
                f"{labels[gen_row[k]]} is in service but not at the slack bus "
                f"{labels[slack_rows[0]]}; a Feeder has no generators: set it out of service "
                "and model it as a DER"
            )
        if at_slack.size > 1:
            raise InvalidInputError(
                f"{where}: generators {', '.join(str(k + 1) for k in at_slack)} are all at the "
                "slack bus; a feeder has one upstream supply"
            )
        if at_slack.size == 1:
            k = int(at_slack[0])
            slack_voltage = float(gen[k, VG])
            bounds = (
                float(gen[k, PMIN]),
                float(gen[k, PMAX]),
                float(gen[k, QMIN]),
                float(gen[k, QMAX]),
            )
            cost = _polynomial_cost(case.gencost, k, gen.shape[0], where)

    r_pu = branch[branch_rows, BR_R].astype(np.float64)
    x_pu = branch[branch_rows, BR_X].astype(np.float64)
    if zero_resistance_x_over_r is not None:
        if not (math.isfinite(zero_resistance_x_over_r) and zero_resistance_x_over_r > 0):
            raise InvalidInputError(
                f"zero_resistance_x_over_r must be positive, not {zero_resistance_x_over_r!r}"
            )
        r_pu = np.where(r_pu == 0.0, x_pu / zero_resistance_x_over_r, r_pu)

    charging_b = branch[branch_rows, BR_B].astype(np.float64)
    shunt_b_pu = None
    if line_charging and charging_b.any():
        shunt_b_pu = np.zeros(kept_rows.size)
        np.add.at(shunt_b_pu, position_of_row[from_row[branch_rows]], charging_b / 2)
        np.add.at(shunt_b_pu, position_of_row[to_row[branch_rows]], charging_b / 2)

    return build_feeder(
        name=feeder_name,
        base_mva=case.base_mva,
        base_kv=base_kv,
        bus_ids=labels[kept_rows],
        slack_buses=position_of_row[slack_rows],
        slack_voltage_pu=slack_voltage,
        from_bus=position_of_row[from_row[branch_rows]],
        to_bus=position_of_row[to_row[branch_rows]],
        branch_ids=branch_ids,
        r_pu=r_pu,
        x_pu=x_pu,
        branch_rating_mva=rating,
        load_p_mw=load_p,
        load_q_mvar=load_q,
        v_min_pu=bus[kept_rows, VMIN],
        v_max_pu=bus[kept_rows, VMAX],
        upstream_p_min_mw=bounds[0],
        upstream_p_max_mw=bounds[1],
        upstream_q_min_mvar=bounds[2],
        upstream_q_max_mvar=bounds[3],
        upstream_cost=cost,
        source=where,
        shunt_b_pu=shunt_b_pu,
        shunt_g_pu=None if shunt_b_pu is None else np.zeros(kept_rows.size),
    )


def _integer_column(
    values: FloatArray,
    where: str,
    message: str,
    labels: NDArray[np.int64] | None = None,
) -> NDArray[np.int64]:
    as_int = np.rint(values).astype(np.int64)
    bad = np.flatnonzero(~np.isfinite(values) | (as_int != values))
    if bad.size:
        row = int(bad[0])
        label = labels[row] if labels is not None else row + 1
        raise InvalidInputError(
            f"{where}: " + message.format(row=row + 1, value=values[row], label=label)
            + " is not an integer"
        )
    return as_int


def _polynomial_cost(
    gencost: FloatArray | None, gen_row: int, num_gens: int, where: str
) -> UpstreamCost:
    """``c2, c1, c0`` of a model-2 row of ``mpc.gencost`` (``n`` coefficients, highest first)."""
    if gencost is None:
        return UpstreamCost(has_cost_data=False)
    if gencost.shape[0] < num_gens:
        raise InvalidInputError(
            f"{where}: mpc.gencost has {gencost.shape[0]} rows for {num_gens} generators"
        )
    row = gencost[gen_row]
    label = f"mpc.gencost row {gen_row + 1} (generator {gen_row + 1})"
    if row[MODEL] != POLYNOMIAL_COST:
        raise InvalidInputError(
            f"{where}: {label} has cost model {row[MODEL]:g}; only polynomial costs (model 2) "
            "are supported for the upstream supply"
        )
    count = int(row[NCOST])
    if count != row[NCOST] or count < 0 or COST + count > row.size:
        raise InvalidInputError(f"{where}: {label} declares {row[NCOST]:g} coefficients")
    coefficients = row[COST : COST + count]
    if count > 3 and np.any(coefficients[: count - 3] != 0):
        raise InvalidInputError(
            f"{where}: {label} is a polynomial of degree {count - 1}; at most quadratic is "
            "supported"
        )
    padded = np.concatenate([np.zeros(3), coefficients])[-3:]
    if not np.all(np.isfinite(padded)):
        raise InvalidInputError(f"{where}: {label} has non-finite coefficients")
    return UpstreamCost(
        quadratic_per_mw2h=float(padded[0]),
        linear_per_mwh=float(padded[1]),
        constant_per_h=float(padded[2]),
    )


# --------------------------------------------------------------------------------------------
# lexing: comments, strings, continuations, statements (bracket-aware)


def _split_statements(text: str, label: str) -> list[_Statement]:
    """Split MATLAB source into statements, dropping comments and joining ``...`` lines.

    Inside ``[ ]`` and ``{ }`` a line end is kept as a row separator (``\\n``); outside, a line
    end, ``;`` or ``,`` ends a statement.
    """
    statements: list[_Statement] = []
    chars: list[str] = []
    lines: list[int] = []
    openers: list[tuple[str, int]] = []
    in_block_comment = False
    closing = {"]": "[", "}": "{", ")": "("}

    def emit() -> None:
        if "".join(chars).strip():
            statements.append(_Statement("".join(chars), tuple(lines)))
        chars.clear()
        lines.clear()

    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if in_block_comment:
            if stripped == "%}":
                in_block_comment = False
            continue
        if stripped == "%{":
            in_block_comment = True
            continue
        continued = False
        in_string = False
        i = 0
        while i < len(raw):
            char = raw[i]
            if in_string:
                chars.append(char)
                lines.append(number)
                if char == "'":
                    if raw[i + 1 : i + 2] == "'":
                        chars.append("'")
                        lines.append(number)
                        i += 1
                    else:
                        in_string = False
                i += 1
                continue
            if char == "'":
                previous = chars[-1] if chars else " "
                if not (previous.isalnum() or previous in "_)]}.'"):
                    in_string = True
            elif char == "%":
                break
            elif raw.startswith("...", i):
                continued = True
                break
            elif char in "[{(":
                openers.append((char, number))
            elif char in "]})":
                if not openers or openers[-1][0] != closing[char]:
                    raise InvalidInputError(f"{label}:{number}: unmatched '{char}'")
                openers.pop()
            elif char in ";," and not openers:
                emit()
                i += 1
                continue
            chars.append(char)
            lines.append(number)
            i += 1
        if in_string:
            raise InvalidInputError(f"{label}:{number}: unterminated string")
        if continued:
            chars.append(" ")
            lines.append(number)
        elif openers:
            chars.append("\n")
            lines.append(number)
        else:
            emit()
    if openers:
        char, number = openers[-1]
        raise InvalidInputError(f"{label}:{number}: '{char}' is never closed")
    if in_block_comment:
        raise InvalidInputError(f"{label}: block comment '%{{' is never closed")
    emit()
    return statements


def _normalize(text: str) -> str:
    """Whitespace between two names becomes a comma (``[BR_R BR_X]``), other whitespace goes."""
    return re.sub(r"\s+", "", re.sub(r"(?<=\w)\s+(?=\w)", ",", text.strip()))


# --------------------------------------------------------------------------------------------
# interpreting: the data assignments and the known conversions, nothing else


class _Interpreter:
    def __init__(self, label: str) -> None:
        self.label = label
        self.struct = "mpc"
        self.seen_function = False
        self.fields: dict[str, float | str | FloatArray] = {}
        self.variables: dict[str, float] = {}
        self.conversions: list[str] = []

    def fail(self, line: int, message: str) -> InvalidInputError:
        return InvalidInputError(f"{self.label}:{line}: {message}")

    def unsupported(self, statement: _Statement) -> InvalidInputError:
        shown = " ".join(statement.text.split())
        if len(shown) > 120:
            shown = shown[:117] + "..."
        return self.fail(
            statement.line,
            f"unsupported MATLAB statement '{shown}': ptn reads the case data and re-applies only "
            "MATPOWER's known unit conversions (ohm to p.u., kW to MW, power factor); convert "
            "the case in MATLAB/Octave and save it with savecase",
        )

    def execute(self, statement: _Statement) -> None:
        text = statement.text.strip()
        header = _FUNCTION_LINE.match(text)
        if header:
            if self.seen_function or self.fields:
                raise self.fail(statement.line, "a second function definition is not supported")
            self.seen_function = True
            self.struct = header.group(1)
            return
        if text == "end":
            return
        assignment = _FIELD_ASSIGNMENT.match(text)
        if assignment and assignment.group(1) == self.struct:
            self._assign_field(statement, assignment.group(2), assignment.group(3).strip())
            return
        compact = _normalize(text)
        for handler in (self._index_unpack, self._scalar, self._column_scaling):
            if handler(statement, compact):
                self.conversions.append(f"{self.label}:{statement.line}: {compact}")
                return
        raise self.unsupported(statement)

    # data -----------------------------------------------------------------------------------

    def _assign_field(self, statement: _Statement, name: str, rhs: str) -> None:
        if rhs.startswith("["):
            if not rhs.endswith("]"):
                raise self.unsupported(statement)
            offset = statement.text.index("[") + 1
            self.fields[name] = self._matrix(statement, offset, rhs[1:-1], name)
        elif rhs.startswith("{"):
            if not rhs.endswith("}"):
                raise self.unsupported(statement)
            self.fields[name] = rhs  # cell arrays (bus names, fuel types) are not used
        elif re.fullmatch(r"'(?:[^']|'')*'", rhs):
            self.fields[name] = rhs[1:-1].replace("''", "'")
        elif re.fullmatch(_NUMBER, rhs):
            self.fields[name] = _number(rhs)
        elif ratio := re.fullmatch(rf"({_NUMBER})\s*([*/])\s*({_NUMBER})", rhs):
            left, right = _number(ratio.group(1)), _number(ratio.group(3))
            if ratio.group(2) == "/" and right == 0:
                raise self.fail(statement.line, "division by zero")
            self.fields[name] = left * right if ratio.group(2) == "*" else left / right
        else:
            raise self.unsupported(statement)

    def _matrix(self, statement: _Statement, offset: int, body: str, name: str) -> FloatArray:
        if "[" in body or "]" in body:
            raise self.fail(statement.line, f"mpc.{name}: nested brackets are not supported")
        rows: list[list[float]] = []
        row_lines: list[int] = []
        current: list[float] = []
        current_line = statement.line
        for match in re.finditer(r"[;\n]|[^\s,;]+", body):
            token = match.group(0)
            line = statement.line_at(offset + match.start())
            if token in ";\n":
                if current:
                    rows.append(current)
                    row_lines.append(current_line)
                current = []
                continue
            if not _MATRIX_NUMBER.match(token):
                raise self.fail(line, f"mpc.{name}: cannot read {token!r} as a number")
            if not current:
                current_line = line
            current.append(_number(token))
        if current:
            rows.append(current)
            row_lines.append(current_line)
        if not rows:
            return np.zeros((0, MIN_COLUMNS.get(name, 0)))
        width = len(rows[0])
        for row, line in zip(rows, row_lines, strict=True):
            if len(row) != width:
                raise self.fail(
                    line,
                    f"mpc.{name}: row has {len(row)} columns, the first row has {width}",
                )
        needed = MIN_COLUMNS.get(name, 0)
        if width < needed:
            raise self.fail(
                row_lines[0], f"mpc.{name} has {width} columns; MATPOWER needs at least {needed}"
            )
        return np.asarray(rows, dtype=np.float64)

    # conversions ----------------------------------------------------------------------------

    def _index_unpack(self, statement: _Statement, compact: str) -> bool:
        match = _INDEX_UNPACK.match(compact)
        if not match:
            return False
        names = match.group(1).split(",")
        values = INDEX_FUNCTIONS[match.group(2)]
        if len(names) > len(values):
            raise self.fail(
                statement.line, f"{match.group(2)} returns only {len(values)} values"
            )
        self.variables.update(zip(names, (float(v) for v in values), strict=False))
        return True

    def _scalar(self, statement: _Statement, compact: str) -> bool:
        match = _SCALAR_FROM_BUS.match(compact)
        if match:
            self._check_struct(statement, match.group("s"))
            bus = self._matrix_field(statement, "bus")
            row = int(match.group("row")) - 1
            column = self._column(statement, match.group("col"), bus)
            if not 0 <= row < bus.shape[0]:
                raise self.fail(statement.line, f"mpc.bus has no row {row + 1}")
            value = float(bus[row, column])
        else:
            match = _SCALAR_FROM_BASE.match(compact)
            if match:
                self._check_struct(statement, match.group("s"))
                value = self._base_mva(statement)
            else:
                match = _SCALAR_LITERAL.match(compact)
                if not match:
                    return False
                value = 1.0
        if match.group("k") is not None:
            value *= _number(match.group("k"))
        self.variables[match.group("var")] = value
        return True

    def _column_scaling(self, statement: _Statement, compact: str) -> bool:
        match = _COLUMN_SCALING.match(compact)
        if not match:
            return False
        self._check_struct(statement, match.group("s"))
        matrix = self._matrix_field(statement, match.group("m"))
        lhs = [self._column(statement, c, matrix) for c in _column_names(match.group("lhs"))]
        rhs = [self._column(statement, c, matrix) for c in _column_names(match.group("rhs"))]
        if len(lhs) != len(rhs):
            raise self.fail(statement.line, "column lists of different lengths")
        factor = self._factor(statement, match.group("f"))
        if match.group("op") == "/":
            if factor == 0:
                raise self.fail(statement.line, "division by zero")
            matrix[:, lhs] = matrix[:, rhs] / factor
        else:
            matrix[:, lhs] = matrix[:, rhs] * factor
        return True

    def _factor(self, statement: _Statement, text: str) -> float:
        if re.fullmatch(_NUMBER, text):
            return _number(text)
        power = re.fullmatch(r"\((\w+)\^2/(\w+)\)", text)
        if power:
            denominator = self._variable(statement, power.group(2))
            if denominator == 0:
                raise self.fail(statement.line, "division by zero")
            return self._variable(statement, power.group(1)) ** 2 / denominator
        trig = re.fullmatch(r"sin\(acos\((\w+)\)\)", text)
        if trig:
            cosine = self._variable(statement, trig.group(1))
            if not -1.0 <= cosine <= 1.0:
                raise self.fail(statement.line, f"acos of {cosine:g}: not a power factor")
            return math.sin(math.acos(cosine))
        return self._variable(statement, text)

    def _variable(self, statement: _Statement, name: str) -> float:
        if name not in self.variables:
            raise self.fail(statement.line, f"'{name}' is not defined")
        return self.variables[name]

    def _column(self, statement: _Statement, name: str, matrix: FloatArray) -> int:
        value = float(name) if name.isdigit() else self._variable(statement, name)
        column = int(value) - 1
        if column != value - 1 or not 0 <= column < matrix.shape[1]:
            raise self.fail(statement.line, f"column {name} is out of range")
        return column

    def _check_struct(self, statement: _Statement, name: str) -> None:
        if name != self.struct:
            raise self.unsupported(statement)

    def _matrix_field(self, statement: _Statement, name: str) -> FloatArray:
        value = self.fields.get(name)
        if not isinstance(value, np.ndarray):
            raise self.fail(statement.line, f"mpc.{name} is used before it is defined")
        return value

    def _base_mva(self, statement: _Statement) -> float:
        value = self.fields.get("baseMVA")
        if not isinstance(value, float):
            raise self.fail(statement.line, "mpc.baseMVA is used before it is defined")
        return value

    # result ---------------------------------------------------------------------------------

    def result(self) -> MatpowerCase:
        version = self.fields.get("version")
        if version != "2":
            raise InvalidInputError(
                f"{self.label}: MATPOWER case format version {version!r} is not supported "
                "(mpc.version must be '2')"
            )
        base_mva = self.fields.get("baseMVA")
        if not isinstance(base_mva, float) or not (math.isfinite(base_mva) and base_mva > 0):
            raise InvalidInputError(f"{self.label}: mpc.baseMVA must be a positive number")
        matrices: dict[str, FloatArray] = {}
        for name in ("bus", "gen", "branch"):
            value = self.fields.get(name)
            if not isinstance(value, np.ndarray):
                raise InvalidInputError(f"{self.label}: mpc.{name} is missing")
            matrices[name] = value
        gencost = self.fields.get("gencost")
        extra = {
            name: value
            for name, value in self.fields.items()
            if isinstance(value, np.ndarray) and name not in ("bus", "gen", "branch", "gencost")
        }
        return MatpowerCase(
            path=self.label,
            base_mva=base_mva,
            bus=matrices["bus"],
            gen=matrices["gen"],
            branch=matrices["branch"],
            gencost=gencost if isinstance(gencost, np.ndarray) else None,
            extra_matrices=extra,
            conversions=tuple(self.conversions),
        )


def _number(text: str) -> float:
    """A MATLAB number (``d``/``D`` exponents allowed, as MATLAB reads them)."""
    return float(text.replace("d", "e").replace("D", "e"))


def _column_names(text: str) -> list[str]:
    return text.strip("[]").split(",")
