from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CodeInfo(_message.Message):
    __slots__ = ("code_id", "prefix", "amount_micros", "created_at_ms", "expires_at_ms", "note", "redeemed_at_ms", "redeemed_by", "revoked_at_ms", "status", "batch_id")
    CODE_ID_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_BY_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    code_id: str
    prefix: str
    amount_micros: int
    created_at_ms: int
    expires_at_ms: int
    note: str
    redeemed_at_ms: int
    redeemed_by: str
    revoked_at_ms: int
    status: str
    batch_id: str
    def __init__(self, code_id: _Optional[str] = ..., prefix: _Optional[str] = ..., amount_micros: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., note: _Optional[str] = ..., redeemed_at_ms: _Optional[int] = ..., redeemed_by: _Optional[str] = ..., revoked_at_ms: _Optional[int] = ..., status: _Optional[str] = ..., batch_id: _Optional[str] = ...) -> None: ...

class CreateCodesRequest(_message.Message):
    __slots__ = ("count", "amount_micros", "expires_at_ms", "note")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    count: int
    amount_micros: int
    expires_at_ms: int
    note: str
    def __init__(self, count: _Optional[int] = ..., amount_micros: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class CreatedCode(_message.Message):
    __slots__ = ("code", "secret")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    code: CodeInfo
    secret: str
    def __init__(self, code: _Optional[_Union[CodeInfo, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class CreateCodesResponse(_message.Message):
    __slots__ = ("codes",)
    CODES_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedCompositeFieldContainer[CreatedCode]
    def __init__(self, codes: _Optional[_Iterable[_Union[CreatedCode, _Mapping]]] = ...) -> None: ...

class ListCodesRequest(_message.Message):
    __slots__ = ("limit", "status")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    limit: int
    status: str
    def __init__(self, limit: _Optional[int] = ..., status: _Optional[str] = ...) -> None: ...

class ListCodesResponse(_message.Message):
    __slots__ = ("codes",)
    CODES_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedCompositeFieldContainer[CodeInfo]
    def __init__(self, codes: _Optional[_Iterable[_Union[CodeInfo, _Mapping]]] = ...) -> None: ...

class RevokeCodeRequest(_message.Message):
    __slots__ = ("code_id",)
    CODE_ID_FIELD_NUMBER: _ClassVar[int]
    code_id: str
    def __init__(self, code_id: _Optional[str] = ...) -> None: ...

class RedeemCodeRequest(_message.Message):
    __slots__ = ("account_id", "code")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    code: str
    def __init__(self, account_id: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class Redemption(_message.Message):
    __slots__ = ("account_id", "code_id", "amount_micros", "balance_micros")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    code_id: str
    amount_micros: int
    balance_micros: int
    def __init__(self, account_id: _Optional[str] = ..., code_id: _Optional[str] = ..., amount_micros: _Optional[int] = ..., balance_micros: _Optional[int] = ...) -> None: ...

class CreditPaymentRequest(_message.Message):
    __slots__ = ("provider", "event_id", "account_id", "amount_micros", "note")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    provider: str
    event_id: str
    account_id: str
    amount_micros: int
    note: str
    def __init__(self, provider: _Optional[str] = ..., event_id: _Optional[str] = ..., account_id: _Optional[str] = ..., amount_micros: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class PaymentResult(_message.Message):
    __slots__ = ("applied", "account_id", "balance_micros")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    account_id: str
    balance_micros: int
    def __init__(self, applied: _Optional[bool] = ..., account_id: _Optional[str] = ..., balance_micros: _Optional[int] = ...) -> None: ...
