from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_UNSPECIFIED: _ClassVar[Status]
    STATUS_OK: _ClassVar[Status]
    STATUS_INEXACT: _ClassVar[Status]
    STATUS_INFEASIBLE: _ClassVar[Status]
    STATUS_NOT_CONVERGED: _ClassVar[Status]
    STATUS_INVALID_REQUEST: _ClassVar[Status]
    STATUS_FAILED: _ClassVar[Status]
STATUS_UNSPECIFIED: Status
STATUS_OK: Status
STATUS_INEXACT: Status
STATUS_INFEASIBLE: Status
STATUS_NOT_CONVERGED: Status
STATUS_INVALID_REQUEST: Status
STATUS_FAILED: Status

class RequestHeader(_message.Message):
    __slots__ = ("negotiation_id", "round", "operator_id", "request_id")
    NEGOTIATION_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    negotiation_id: str
    round: int
    operator_id: str
    request_id: str
    def __init__(self, negotiation_id: _Optional[str] = ..., round: _Optional[int] = ..., operator_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReplyHeader(_message.Message):
    __slots__ = ("request_id", "operator_id", "status", "message", "solve_seconds")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SOLVE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    operator_id: str
    status: Status
    message: str
    solve_seconds: float
    def __init__(self, request_id: _Optional[str] = ..., operator_id: _Optional[str] = ..., status: _Optional[_Union[Status, str]] = ..., message: _Optional[str] = ..., solve_seconds: _Optional[float] = ...) -> None: ...

class StationSeries(_message.Message):
    __slots__ = ("stations", "periods", "values")
    STATIONS_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    stations: _containers.RepeatedScalarFieldContainer[str]
    periods: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, stations: _Optional[_Iterable[str]] = ..., periods: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class OperatorInfo(_message.Message):
    __slots__ = ("role", "operator_id", "stations", "periods", "period_hours", "schema")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    STATIONS_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_HOURS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    role: str
    operator_id: str
    stations: _containers.RepeatedScalarFieldContainer[str]
    periods: int
    period_hours: float
    schema: str
    def __init__(self, role: _Optional[str] = ..., operator_id: _Optional[str] = ..., stations: _Optional[_Iterable[str]] = ..., periods: _Optional[int] = ..., period_hours: _Optional[float] = ..., schema: _Optional[str] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ("header",)
    HEADER_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ...) -> None: ...

class DescribeReply(_message.Message):
    __slots__ = ("header", "info")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    header: ReplyHeader
    info: OperatorInfo
    def __init__(self, header: _Optional[_Union[ReplyHeader, _Mapping]] = ..., info: _Optional[_Union[OperatorInfo, _Mapping]] = ...) -> None: ...

class PriceSignal(_message.Message):
    __slots__ = ("header", "price_per_mwh")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_MWH_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    price_per_mwh: StationSeries
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., price_per_mwh: _Optional[_Union[StationSeries, _Mapping]] = ...) -> None: ...

class LoadSignal(_message.Message):
    __slots__ = ("header", "load_mw")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    LOAD_MW_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    load_mw: StationSeries
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., load_mw: _Optional[_Union[StationSeries, _Mapping]] = ...) -> None: ...

class LoadReply(_message.Message):
    __slots__ = ("header", "load_mw", "privacy")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    LOAD_MW_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_FIELD_NUMBER: _ClassVar[int]
    header: ReplyHeader
    load_mw: StationSeries
    privacy: PrivacySpent
    def __init__(self, header: _Optional[_Union[ReplyHeader, _Mapping]] = ..., load_mw: _Optional[_Union[StationSeries, _Mapping]] = ..., privacy: _Optional[_Union[PrivacySpent, _Mapping]] = ...) -> None: ...

class PrivacySpent(_message.Message):
    __slots__ = ("epsilon", "delta", "releases", "bound", "exhausted")
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    RELEASES_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTED_FIELD_NUMBER: _ClassVar[int]
    epsilon: float
    delta: float
    releases: int
    bound: str
    exhausted: bool
    def __init__(self, epsilon: _Optional[float] = ..., delta: _Optional[float] = ..., releases: _Optional[int] = ..., bound: _Optional[str] = ..., exhausted: _Optional[bool] = ...) -> None: ...

class PriceReply(_message.Message):
    __slots__ = ("header", "price_per_mwh", "trial")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_MWH_FIELD_NUMBER: _ClassVar[int]
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    header: ReplyHeader
    price_per_mwh: StationSeries
    trial: bool
    def __init__(self, header: _Optional[_Union[ReplyHeader, _Mapping]] = ..., price_per_mwh: _Optional[_Union[StationSeries, _Mapping]] = ..., trial: _Optional[bool] = ...) -> None: ...

class ConsensusStep(_message.Message):
    __slots__ = ("header", "price_per_mwh", "target_load_mw", "penalty_per_mw2h")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_MWH_FIELD_NUMBER: _ClassVar[int]
    TARGET_LOAD_MW_FIELD_NUMBER: _ClassVar[int]
    PENALTY_PER_MW2H_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    price_per_mwh: StationSeries
    target_load_mw: StationSeries
    penalty_per_mw2h: float
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., price_per_mwh: _Optional[_Union[StationSeries, _Mapping]] = ..., target_load_mw: _Optional[_Union[StationSeries, _Mapping]] = ..., penalty_per_mw2h: _Optional[float] = ...) -> None: ...

class CostRequest(_message.Message):
    __slots__ = ("header",)
    HEADER_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ...) -> None: ...

class CostReport(_message.Message):
    __slots__ = ("header", "cost")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    header: ReplyHeader
    cost: float
    def __init__(self, header: _Optional[_Union[ReplyHeader, _Mapping]] = ..., cost: _Optional[float] = ...) -> None: ...

class DispatchReply(_message.Message):
    __slots__ = ("header", "cost", "price_per_mwh", "revenue")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_MWH_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    header: ReplyHeader
    cost: float
    price_per_mwh: StationSeries
    revenue: float
    def __init__(self, header: _Optional[_Union[ReplyHeader, _Mapping]] = ..., cost: _Optional[float] = ..., price_per_mwh: _Optional[_Union[StationSeries, _Mapping]] = ..., revenue: _Optional[float] = ...) -> None: ...

class EndNegotiationRequest(_message.Message):
    __slots__ = ("header",)
    HEADER_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ...) -> None: ...

class EndNegotiationReply(_message.Message):
    __slots__ = ("header",)
    HEADER_FIELD_NUMBER: _ClassVar[int]
    header: ReplyHeader
    def __init__(self, header: _Optional[_Union[ReplyHeader, _Mapping]] = ...) -> None: ...
