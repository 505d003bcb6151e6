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
    __slots__ = ("account_id", "key_id", "key_prefix", "balance_micros", "account_name", "require_zdr", "allowed_models", "expires_at_ms", "rpm_limit", "tpm_limit", "account_status", "status_reason", "spend_cap_day_micros", "spend_cap_month_micros", "spent_day_micros", "spent_month_micros", "spend_day", "spend_month", "price_group", "budgeted", "budget_room_micros", "member_id", "team_id", "throttle_rpm", "throttle_until_ms")
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
    ACCOUNT_STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    SPEND_CAP_DAY_MICROS_FIELD_NUMBER: _ClassVar[int]
    SPEND_CAP_MONTH_MICROS_FIELD_NUMBER: _ClassVar[int]
    SPENT_DAY_MICROS_FIELD_NUMBER: _ClassVar[int]
    SPENT_MONTH_MICROS_FIELD_NUMBER: _ClassVar[int]
    SPEND_DAY_FIELD_NUMBER: _ClassVar[int]
    SPEND_MONTH_FIELD_NUMBER: _ClassVar[int]
    PRICE_GROUP_FIELD_NUMBER: _ClassVar[int]
    BUDGETED_FIELD_NUMBER: _ClassVar[int]
    BUDGET_ROOM_MICROS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_RPM_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
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
    account_status: str
    status_reason: str
    spend_cap_day_micros: int
    spend_cap_month_micros: int
    spent_day_micros: int
    spent_month_micros: int
    spend_day: int
    spend_month: int
    price_group: str
    budgeted: bool
    budget_room_micros: int
    member_id: str
    team_id: str
    throttle_rpm: int
    throttle_until_ms: int
    def __init__(self, account_id: _Optional[str] = ..., key_id: _Optional[str] = ..., key_prefix: _Optional[str] = ..., balance_micros: _Optional[int] = ..., account_name: _Optional[str] = ..., require_zdr: _Optional[bool] = ..., allowed_models: _Optional[_Iterable[str]] = ..., expires_at_ms: _Optional[int] = ..., rpm_limit: _Optional[int] = ..., tpm_limit: _Optional[int] = ..., account_status: _Optional[str] = ..., status_reason: _Optional[str] = ..., spend_cap_day_micros: _Optional[int] = ..., spend_cap_month_micros: _Optional[int] = ..., spent_day_micros: _Optional[int] = ..., spent_month_micros: _Optional[int] = ..., spend_day: _Optional[int] = ..., spend_month: _Optional[int] = ..., price_group: _Optional[str] = ..., budgeted: _Optional[bool] = ..., budget_room_micros: _Optional[int] = ..., member_id: _Optional[str] = ..., team_id: _Optional[str] = ..., throttle_rpm: _Optional[int] = ..., throttle_until_ms: _Optional[int] = ...) -> None: ...

class CreateAccountRequest(_message.Message):
    __slots__ = ("name", "initial_balance_micros", "require_zdr", "skip_trial_credit")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ZDR_FIELD_NUMBER: _ClassVar[int]
    SKIP_TRIAL_CREDIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    initial_balance_micros: int
    require_zdr: bool
    skip_trial_credit: bool
    def __init__(self, name: _Optional[str] = ..., initial_balance_micros: _Optional[int] = ..., require_zdr: _Optional[bool] = ..., skip_trial_credit: _Optional[bool] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("account_id", "name", "balance_micros", "created_at_ms", "require_zdr", "status", "status_reason", "price_group")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ZDR_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    PRICE_GROUP_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    name: str
    balance_micros: int
    created_at_ms: int
    require_zdr: bool
    status: str
    status_reason: str
    price_group: str
    def __init__(self, account_id: _Optional[str] = ..., name: _Optional[str] = ..., balance_micros: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., require_zdr: _Optional[bool] = ..., status: _Optional[str] = ..., status_reason: _Optional[str] = ..., price_group: _Optional[str] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class ListAccountsRequest(_message.Message):
    __slots__ = ("limit", "after_id")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    after_id: str
    def __init__(self, limit: _Optional[int] = ..., after_id: _Optional[str] = ...) -> None: ...

class ListAccountsResponse(_message.Message):
    __slots__ = ("accounts",)
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedCompositeFieldContainer[Account]
    def __init__(self, accounts: _Optional[_Iterable[_Union[Account, _Mapping]]] = ...) -> None: ...

class SetAccountStatusRequest(_message.Message):
    __slots__ = ("account_id", "status", "reason")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    status: str
    reason: str
    def __init__(self, account_id: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CreateKeyRequest(_message.Message):
    __slots__ = ("account_id", "name", "require_zdr", "allowed_models", "expires_at_ms", "rpm_limit", "tpm_limit", "spend_cap_day_micros", "spend_cap_month_micros", "member_id", "team_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ZDR_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    RPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SPEND_CAP_DAY_MICROS_FIELD_NUMBER: _ClassVar[int]
    SPEND_CAP_MONTH_MICROS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    name: str
    require_zdr: bool
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    expires_at_ms: int
    rpm_limit: int
    tpm_limit: int
    spend_cap_day_micros: int
    spend_cap_month_micros: int
    member_id: str
    team_id: str
    def __init__(self, account_id: _Optional[str] = ..., name: _Optional[str] = ..., require_zdr: _Optional[bool] = ..., allowed_models: _Optional[_Iterable[str]] = ..., expires_at_ms: _Optional[int] = ..., rpm_limit: _Optional[int] = ..., tpm_limit: _Optional[int] = ..., spend_cap_day_micros: _Optional[int] = ..., spend_cap_month_micros: _Optional[int] = ..., member_id: _Optional[str] = ..., team_id: _Optional[str] = ...) -> None: ...

class KeyInfo(_message.Message):
    __slots__ = ("key_id", "account_id", "name", "prefix", "created_at_ms", "revoked_at_ms", "require_zdr", "allowed_models", "expires_at_ms", "rpm_limit", "tpm_limit", "last_used_at_ms", "spend_cap_day_micros", "spend_cap_month_micros", "member_id", "team_id")
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
    LAST_USED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    SPEND_CAP_DAY_MICROS_FIELD_NUMBER: _ClassVar[int]
    SPEND_CAP_MONTH_MICROS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
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
    last_used_at_ms: int
    spend_cap_day_micros: int
    spend_cap_month_micros: int
    member_id: str
    team_id: str
    def __init__(self, key_id: _Optional[str] = ..., account_id: _Optional[str] = ..., name: _Optional[str] = ..., prefix: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., revoked_at_ms: _Optional[int] = ..., require_zdr: _Optional[bool] = ..., allowed_models: _Optional[_Iterable[str]] = ..., expires_at_ms: _Optional[int] = ..., rpm_limit: _Optional[int] = ..., tpm_limit: _Optional[int] = ..., last_used_at_ms: _Optional[int] = ..., spend_cap_day_micros: _Optional[int] = ..., spend_cap_month_micros: _Optional[int] = ..., member_id: _Optional[str] = ..., team_id: _Optional[str] = ...) -> None: ...

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

class RotateKeyRequest(_message.Message):
    __slots__ = ("key_id", "grace_s")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    GRACE_S_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    grace_s: int
    def __init__(self, key_id: _Optional[str] = ..., grace_s: _Optional[int] = ...) -> None: ...

class RotatedKey(_message.Message):
    __slots__ = ("new_key", "old_key")
    NEW_KEY_FIELD_NUMBER: _ClassVar[int]
    OLD_KEY_FIELD_NUMBER: _ClassVar[int]
    new_key: CreatedKey
    old_key: KeyInfo
    def __init__(self, new_key: _Optional[_Union[CreatedKey, _Mapping]] = ..., old_key: _Optional[_Union[KeyInfo, _Mapping]] = ...) -> None: ...

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

class AdjustRequest(_message.Message):
    __slots__ = ("account_id", "amount_micros", "reason", "reference")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    amount_micros: int
    reason: str
    reference: str
    def __init__(self, account_id: _Optional[str] = ..., amount_micros: _Optional[int] = ..., reason: _Optional[str] = ..., reference: _Optional[str] = ...) -> None: ...

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

class ListLedgerRequest(_message.Message):
    __slots__ = ("account_id", "limit", "before_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    limit: int
    before_id: int
    def __init__(self, account_id: _Optional[str] = ..., limit: _Optional[int] = ..., before_id: _Optional[int] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("id", "kind", "amount_micros", "reference", "note", "key_id", "created_at_ms", "effective_at_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_AT_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    amount_micros: int
    reference: str
    note: str
    key_id: str
    created_at_ms: int
    effective_at_ms: int
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., amount_micros: _Optional[int] = ..., reference: _Optional[str] = ..., note: _Optional[str] = ..., key_id: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., effective_at_ms: _Optional[int] = ...) -> None: ...

class ListLedgerResponse(_message.Message):
    __slots__ = ("entries", "balance_micros")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    balance_micros: int
    def __init__(self, entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ..., balance_micros: _Optional[int] = ...) -> None: ...

class AcquireLeaseRequest(_message.Message):
    __slots__ = ("account_id", "lease_id", "amount_micros", "holder", "needed_micros", "key_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    NEEDED_MICROS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    lease_id: str
    amount_micros: int
    holder: str
    needed_micros: int
    key_id: str
    def __init__(self, account_id: _Optional[str] = ..., lease_id: _Optional[str] = ..., amount_micros: _Optional[int] = ..., holder: _Optional[str] = ..., needed_micros: _Optional[int] = ..., key_id: _Optional[str] = ...) -> None: ...

class Lease(_message.Message):
    __slots__ = ("lease_id", "account_id", "granted_micros", "total_granted_micros", "expires_at_ms", "available_micros", "key_id", "limited_by")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTED_MICROS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_GRANTED_MICROS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_MICROS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    LIMITED_BY_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    account_id: str
    granted_micros: int
    total_granted_micros: int
    expires_at_ms: int
    available_micros: int
    key_id: str
    limited_by: str
    def __init__(self, lease_id: _Optional[str] = ..., account_id: _Optional[str] = ..., granted_micros: _Optional[int] = ..., total_granted_micros: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., available_micros: _Optional[int] = ..., key_id: _Optional[str] = ..., limited_by: _Optional[str] = ...) -> None: ...

class ReturnLeaseRequest(_message.Message):
    __slots__ = ("lease_id", "spent_micros")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    SPENT_MICROS_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    spent_micros: int
    def __init__(self, lease_id: _Optional[str] = ..., spent_micros: _Optional[int] = ...) -> None: ...
