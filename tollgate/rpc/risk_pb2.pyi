from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetStandingRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class Standing(_message.Message):
    __slots__ = ("account_id", "status", "status_reason", "records_in_period", "deactivate_after", "period_s", "open_request", "throttle_rpm", "throttle_until_ms")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    RECORDS_IN_PERIOD_FIELD_NUMBER: _ClassVar[int]
    DEACTIVATE_AFTER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_S_FIELD_NUMBER: _ClassVar[int]
    OPEN_REQUEST_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_RPM_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    status: str
    status_reason: str
    records_in_period: int
    deactivate_after: int
    period_s: int
    open_request: Reactivation
    throttle_rpm: int
    throttle_until_ms: int
    def __init__(self, account_id: _Optional[str] = ..., status: _Optional[str] = ..., status_reason: _Optional[str] = ..., records_in_period: _Optional[int] = ..., deactivate_after: _Optional[int] = ..., period_s: _Optional[int] = ..., open_request: _Optional[_Union[Reactivation, _Mapping]] = ..., throttle_rpm: _Optional[int] = ..., throttle_until_ms: _Optional[int] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("id", "account_id", "rule", "action", "reason", "figures", "created_at_ms", "until_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    account_id: str
    rule: str
    action: str
    reason: str
    figures: str
    created_at_ms: int
    until_ms: int
    def __init__(self, id: _Optional[int] = ..., account_id: _Optional[str] = ..., rule: _Optional[str] = ..., action: _Optional[str] = ..., reason: _Optional[str] = ..., figures: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., until_ms: _Optional[int] = ...) -> None: ...

class ListRecordsRequest(_message.Message):
    __slots__ = ("account_id", "limit")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    limit: int
    def __init__(self, account_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRecordsResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    def __init__(self, records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ...) -> None: ...

class ActRequest(_message.Message):
    __slots__ = ("account_id", "action", "reason", "throttle_rpm", "throttle_s")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_RPM_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_S_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    action: str
    reason: str
    throttle_rpm: int
    throttle_s: int
    def __init__(self, account_id: _Optional[str] = ..., action: _Optional[str] = ..., reason: _Optional[str] = ..., throttle_rpm: _Optional[int] = ..., throttle_s: _Optional[int] = ...) -> None: ...

class Reactivation(_message.Message):
    __slots__ = ("id", "account_id", "message", "status", "note", "created_at_ms", "decided_at_ms", "status_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    id: int
    account_id: str
    message: str
    status: str
    note: str
    created_at_ms: int
    decided_at_ms: int
    status_reason: str
    def __init__(self, id: _Optional[int] = ..., account_id: _Optional[str] = ..., message: _Optional[str] = ..., status: _Optional[str] = ..., note: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., decided_at_ms: _Optional[int] = ..., status_reason: _Optional[str] = ...) -> None: ...

class RequestReactivationRequest(_message.Message):
    __slots__ = ("account_id", "message")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    message: str
    def __init__(self, account_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListReactivationsRequest(_message.Message):
    __slots__ = ("account_id", "status", "limit")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    status: str
    limit: int
    def __init__(self, account_id: _Optional[str] = ..., status: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListReactivationsResponse(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[Reactivation]
    def __init__(self, requests: _Optional[_Iterable[_Union[Reactivation, _Mapping]]] = ...) -> None: ...

class DecideReactivationRequest(_message.Message):
    __slots__ = ("request_id", "approve", "note")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    approve: bool
    note: str
    def __init__(self, request_id: _Optional[int] = ..., approve: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class ListRulesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Rule(_message.Message):
    __slots__ = ("name", "kind", "action", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    action: str
    description: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., action: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ListRulesResponse(_message.Message):
    __slots__ = ("rules", "source", "error", "deactivate_after", "period_s")
    RULES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DEACTIVATE_AFTER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_S_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    source: str
    error: str
    deactivate_after: int
    period_s: int
    def __init__(self, rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ..., source: _Optional[str] = ..., error: _Optional[str] = ..., deactivate_after: _Optional[int] = ..., period_s: _Optional[int] = ...) -> None: ...

class OpenTicketRequest(_message.Message):
    __slots__ = ("account_id", "subject", "description", "request_ids")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_IDS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    subject: str
    description: str
    request_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, account_id: _Optional[str] = ..., subject: _Optional[str] = ..., description: _Optional[str] = ..., request_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Attempt(_message.Message):
    __slots__ = ("channel_id", "status", "error")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    status: int
    error: str
    def __init__(self, channel_id: _Optional[str] = ..., status: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class Diagnostic(_message.Message):
    __slots__ = ("request_id", "found", "occurred_at_ms", "endpoint", "model", "provider", "channel_id", "status", "error_code", "attempts", "latency_ms", "ttft_ms", "upstream_latency_ms", "gateway_overhead_ms", "stream", "attempt_log", "keep_until_ms")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_OVERHEAD_MS_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_LOG_FIELD_NUMBER: _ClassVar[int]
    KEEP_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    found: bool
    occurred_at_ms: int
    endpoint: str
    model: str
    provider: str
    channel_id: str
    status: int
    error_code: str
    attempts: int
    latency_ms: int
    ttft_ms: int
    upstream_latency_ms: int
    gateway_overhead_ms: int
    stream: bool
    attempt_log: _containers.RepeatedCompositeFieldContainer[Attempt]
    keep_until_ms: int
    def __init__(self, request_id: _Optional[str] = ..., found: _Optional[bool] = ..., occurred_at_ms: _Optional[int] = ..., endpoint: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., channel_id: _Optional[str] = ..., status: _Optional[int] = ..., error_code: _Optional[str] = ..., attempts: _Optional[int] = ..., latency_ms: _Optional[int] = ..., ttft_ms: _Optional[int] = ..., upstream_latency_ms: _Optional[int] = ..., gateway_overhead_ms: _Optional[int] = ..., stream: _Optional[bool] = ..., attempt_log: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., keep_until_ms: _Optional[int] = ...) -> None: ...

class Ticket(_message.Message):
    __slots__ = ("ticket_id", "account_id", "subject", "description", "status", "created_at_ms", "keep_until_ms", "diagnostics")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    KEEP_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    account_id: str
    subject: str
    description: str
    status: str
    created_at_ms: int
    keep_until_ms: int
    diagnostics: _containers.RepeatedCompositeFieldContainer[Diagnostic]
    def __init__(self, ticket_id: _Optional[str] = ..., account_id: _Optional[str] = ..., subject: _Optional[str] = ..., description: _Optional[str] = ..., status: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., keep_until_ms: _Optional[int] = ..., diagnostics: _Optional[_Iterable[_Union[Diagnostic, _Mapping]]] = ...) -> None: ...

class ListTicketsRequest(_message.Message):
    __slots__ = ("account_id", "limit")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    limit: int
    def __init__(self, account_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListTicketsResponse(_message.Message):
    __slots__ = ("tickets",)
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    tickets: _containers.RepeatedCompositeFieldContainer[Ticket]
    def __init__(self, tickets: _Optional[_Iterable[_Union[Ticket, _Mapping]]] = ...) -> None: ...

class GetTicketRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...

class CloseTicketRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...
