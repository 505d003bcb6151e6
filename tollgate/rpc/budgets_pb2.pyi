from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SetBudgetRequest(_message.Message):
    __slots__ = ("account_id", "scope", "subject_id", "day_micros", "month_micros")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_MICROS_FIELD_NUMBER: _ClassVar[int]
    MONTH_MICROS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    scope: str
    subject_id: str
    day_micros: int
    month_micros: int
    def __init__(self, account_id: _Optional[str] = ..., scope: _Optional[str] = ..., subject_id: _Optional[str] = ..., day_micros: _Optional[int] = ..., month_micros: _Optional[int] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("account_id", "scope", "subject_id", "day_micros", "month_micros", "spent_day_micros", "spent_month_micros", "reserved_micros", "updated_at_ms")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_MICROS_FIELD_NUMBER: _ClassVar[int]
    MONTH_MICROS_FIELD_NUMBER: _ClassVar[int]
    SPENT_DAY_MICROS_FIELD_NUMBER: _ClassVar[int]
    SPENT_MONTH_MICROS_FIELD_NUMBER: _ClassVar[int]
    RESERVED_MICROS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    scope: str
    subject_id: str
    day_micros: int
    month_micros: int
    spent_day_micros: int
    spent_month_micros: int
    reserved_micros: int
    updated_at_ms: int
    def __init__(self, account_id: _Optional[str] = ..., scope: _Optional[str] = ..., subject_id: _Optional[str] = ..., day_micros: _Optional[int] = ..., month_micros: _Optional[int] = ..., spent_day_micros: _Optional[int] = ..., spent_month_micros: _Optional[int] = ..., reserved_micros: _Optional[int] = ..., updated_at_ms: _Optional[int] = ...) -> None: ...

class ListBudgetsRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class ListBudgetsResponse(_message.Message):
    __slots__ = ("budgets",)
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    budgets: _containers.RepeatedCompositeFieldContainer[Budget]
    def __init__(self, budgets: _Optional[_Iterable[_Union[Budget, _Mapping]]] = ...) -> None: ...

class SetAccountGroupRequest(_message.Message):
    __slots__ = ("account_id", "group")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    group: str
    def __init__(self, account_id: _Optional[str] = ..., group: _Optional[str] = ...) -> None: ...

class AccountGroup(_message.Message):
    __slots__ = ("account_id", "group")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    group: str
    def __init__(self, account_id: _Optional[str] = ..., group: _Optional[str] = ...) -> None: ...
