from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuthenticateRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class Principal(_message.Message):
    __slots__ = ("account_id", "key_id", "key_prefix", "balance_micros", "account_name", "require_zdr", "allowed_models", "expires_at_ms", "rpm_limit", "tpm_limit")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ZDR_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    RPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    key_id: str
    key_prefix: str
    balance_micros: int
    account_name: str
    require_zdr: bool
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    expires_at_ms: int
    rpm_limit: int
    tpm_limit: int
    def __init__(self, account_id: _Optional[str] = ..., key_id: _Optional[str] = ..., key_prefix: _Optional[str] = ..., balance_micros: _Optional[int] = ..., account_name: _Optional[str] = ..., require_zdr: _Optional[bool] = ..., allowed_models: _Optional[_Iterable[str]] = ..., expires_at_ms: _Optional[int] = ..., rpm_limit: _Optional[int] = ..., tpm_limit: _Optional[int] = ...) -> None: ...

class CreateAccountRequest(_message.Message):
    __slots__ = ("name", "initial_balance_micros", "require_zdr")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ZDR_FIELD_NUMBER: _ClassVar[int]
    name: str
    initial_balance_micros: int
    require_zdr: bool
    def __init__(self, name: _Optional[str] = ..., initial_balance_micros: _Optional[int] = ..., require_zdr: _Optional[bool] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("account_id", "name", "balance_micros", "created_at_ms", "require_zdr")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ZDR_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    name: str
    balance_micros: int
    created_at_ms: int
    require_zdr: bool
    def __init__(self, account_id: _Optional[str] = ..., name: _Optional[str] = ..., balance_micros: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., require_zdr: _Optional[bool] = ...) -> None: ...

class CreateKeyRequest(_message.Message):
    __slots__ = ("account_id", "name", "require_zdr", "allowed_models", "expires_at_ms", "rpm_limit", "tpm_limit")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ZDR_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    RPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    name: str
    require_zdr: bool
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    expires_at_ms: int
    rpm_limit: int
    tpm_limit: int
    def __init__(self, account_id: _Optional[str] = ..., name: _Optional[str] = ..., require_zdr: _Optional[bool] = ..., allowed_models: _Optional[_Iterable[str]] = ..., expires_at_ms: _Optional[int] = ..., rpm_limit: _Optional[int] = ..., tpm_limit: _Optional[int] = ...) -> None: ...

class KeyInfo(_message.Message):
    __slots__ = ("key_id", "account_id", "name", "prefix", "created_at_ms", "revoked_at_ms", "require_zdr", "allowed_models", "expires_at_ms", "rpm_limit", "tpm_limit")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ZDR_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    RPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    account_id: str
    name: str
    prefix: str
    created_at_ms: int
    revoked_at_ms: int
    require_zdr: bool
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    expires_at_ms: int
    rpm_limit: int
    tpm_limit: int
    def __init__(self, key_id: _Optional[str] = ..., account_id: _Optional[str] = ..., name: _Optional[str] = ..., prefix: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., revoked_at_ms: _Optional[int] = ..., require_zdr: _Optional[bool] = ..., allowed_models: _Optional[_Iterable[str]] = ..., expires_at_ms: _Optional[int] = ..., rpm_limit: _Optional[int] = ..., tpm_limit: _Optional[int] = ...) -> None: ...

class CreatedKey(_message.Message):
    __slots__ = ("key", "secret")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    key: KeyInfo
    secret: str
    def __init__(self, key: _Optional[_Union[KeyInfo, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class RevokeKeyRequest(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class ListKeysRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class ListKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[KeyInfo]
    def __init__(self, keys: _Optional[_Iterable[_Union[KeyInfo, _Mapping]]] = ...) -> None: ...

class TopUpRequest(_message.Message):
    __slots__ = ("account_id", "amount_micros", "reference")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    amount_micros: int
    reference: str
    def __init__(self, account_id: _Optional[str] = ..., amount_micros: _Optional[int] = ..., reference: _Optional[str] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("account_id", "balance_micros")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    balance_micros: int
    def __init__(self, account_id: _Optional[str] = ..., balance_micros: _Optional[int] = ...) -> None: ...

class DailyDebitsRequest(_message.Message):
    __slots__ = ("account_id", "start_ms", "end_ms")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    start_ms: int
    end_ms: int
    def __init__(self, account_id: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ...) -> None: ...

class DayDebits(_message.Message):
    __slots__ = ("day", "debits_micros", "requests")
    DAY_FIELD_NUMBER: _ClassVar[int]
    DEBITS_MICROS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    day: str
    debits_micros: int
    requests: int
    def __init__(self, day: _Optional[str] = ..., debits_micros: _Optional[int] = ..., requests: _Optional[int] = ...) -> None: ...

class DailyDebitsResponse(_message.Message):
    __slots__ = ("days",)
    DAYS_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[DayDebits]
    def __init__(self, days: _Optional[_Iterable[_Union[DayDebits, _Mapping]]] = ...) -> None: ...
