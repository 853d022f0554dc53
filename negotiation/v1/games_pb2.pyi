from . import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BestResponseMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BEST_RESPONSE_METHOD_UNSPECIFIED: _ClassVar[BestResponseMethod]
    BEST_RESPONSE_METHOD_AEM: _ClassVar[BestResponseMethod]
    BEST_RESPONSE_METHOD_EXACT: _ClassVar[BestResponseMethod]
BEST_RESPONSE_METHOD_UNSPECIFIED: BestResponseMethod
BEST_RESPONSE_METHOD_AEM: BestResponseMethod
BEST_RESPONSE_METHOD_EXACT: BestResponseMethod

class PriceProbes(_message.Message):
    __slots__ = ("header", "price_per_mwh")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_MWH_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.RequestHeader
    price_per_mwh: _containers.RepeatedCompositeFieldContainer[_common_pb2.StationSeries]
    def __init__(self, header: _Optional[_Union[_common_pb2.RequestHeader, _Mapping]] = ..., price_per_mwh: _Optional[_Iterable[_Union[_common_pb2.StationSeries, _Mapping]]] = ...) -> None: ...

class LoadResponses(_message.Message):
    __slots__ = ("header", "load_mw", "privacy")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    LOAD_MW_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.ReplyHeader
    load_mw: _containers.RepeatedCompositeFieldContainer[_common_pb2.StationSeries]
    privacy: _common_pb2.PrivacySpent
    def __init__(self, header: _Optional[_Union[_common_pb2.ReplyHeader, _Mapping]] = ..., load_mw: _Optional[_Iterable[_Union[_common_pb2.StationSeries, _Mapping]]] = ..., privacy: _Optional[_Union[_common_pb2.PrivacySpent, _Mapping]] = ...) -> None: ...

class PriceGameTurn(_message.Message):
    __slots__ = ("header", "purchase_price_per_mwh", "others_price_per_mwh", "observed_load_mw", "current_price_per_mwh", "probe_load_mw", "method")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_PRICE_PER_MWH_FIELD_NUMBER: _ClassVar[int]
    OTHERS_PRICE_PER_MWH_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_LOAD_MW_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PRICE_PER_MWH_FIELD_NUMBER: _ClassVar[int]
    PROBE_LOAD_MW_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.RequestHeader
    purchase_price_per_mwh: _common_pb2.StationSeries
    others_price_per_mwh: _common_pb2.StationSeries
    observed_load_mw: _common_pb2.StationSeries
    current_price_per_mwh: _common_pb2.StationSeries
    probe_load_mw: _containers.RepeatedCompositeFieldContainer[_common_pb2.StationSeries]
    method: BestResponseMethod
    def __init__(self, header: _Optional[_Union[_common_pb2.RequestHeader, _Mapping]] = ..., purchase_price_per_mwh: _Optional[_Union[_common_pb2.StationSeries, _Mapping]] = ..., others_price_per_mwh: _Optional[_Union[_common_pb2.StationSeries, _Mapping]] = ..., observed_load_mw: _Optional[_Union[_common_pb2.StationSeries, _Mapping]] = ..., current_price_per_mwh: _Optional[_Union[_common_pb2.StationSeries, _Mapping]] = ..., probe_load_mw: _Optional[_Iterable[_Union[_common_pb2.StationSeries, _Mapping]]] = ..., method: _Optional[_Union[BestResponseMethod, str]] = ...) -> None: ...

class PriceGameMove(_message.Message):
    __slots__ = ("header", "probe_price_per_mwh", "price_per_mwh", "revenue", "start_revenue", "probes")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PROBE_PRICE_PER_MWH_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_MWH_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    START_REVENUE_FIELD_NUMBER: _ClassVar[int]
    PROBES_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.ReplyHeader
    probe_price_per_mwh: _containers.RepeatedCompositeFieldContainer[_common_pb2.StationSeries]
    price_per_mwh: _common_pb2.StationSeries
    revenue: float
    start_revenue: float
    probes: int
    def __init__(self, header: _Optional[_Union[_common_pb2.ReplyHeader, _Mapping]] = ..., probe_price_per_mwh: _Optional[_Iterable[_Union[_common_pb2.StationSeries, _Mapping]]] = ..., price_per_mwh: _Optional[_Union[_common_pb2.StationSeries, _Mapping]] = ..., revenue: _Optional[float] = ..., start_revenue: _Optional[float] = ..., probes: _Optional[int] = ...) -> None: ...

class ProfitShareOffer(_message.Message):
    __slots__ = ("header", "share", "reference_cost", "payment")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_COST_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.RequestHeader
    share: float
    reference_cost: float
    payment: float
    def __init__(self, header: _Optional[_Union[_common_pb2.RequestHeader, _Mapping]] = ..., share: _Optional[float] = ..., reference_cost: _Optional[float] = ..., payment: _Optional[float] = ...) -> None: ...

class ProfitShareAnswer(_message.Message):
    __slots__ = ("header", "accepted", "load_mw", "benefit", "cost", "cost_alone")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    LOAD_MW_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    COST_ALONE_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.ReplyHeader
    accepted: bool
    load_mw: _common_pb2.StationSeries
    benefit: float
    cost: float
    cost_alone: float
    def __init__(self, header: _Optional[_Union[_common_pb2.ReplyHeader, _Mapping]] = ..., accepted: _Optional[bool] = ..., load_mw: _Optional[_Union[_common_pb2.StationSeries, _Mapping]] = ..., benefit: _Optional[float] = ..., cost: _Optional[float] = ..., cost_alone: _Optional[float] = ...) -> None: ...

class Settlement(_message.Message):
    __slots__ = ("header", "amount", "reason")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.RequestHeader
    amount: float
    reason: str
    def __init__(self, header: _Optional[_Union[_common_pb2.RequestHeader, _Mapping]] = ..., amount: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class SettlementAck(_message.Message):
    __slots__ = ("header",)
    HEADER_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.ReplyHeader
    def __init__(self, header: _Optional[_Union[_common_pb2.ReplyHeader, _Mapping]] = ...) -> None: ...
