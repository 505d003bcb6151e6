from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RouteRequest(_message.Message):
    __slots__ = ("model", "group")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    model: str
    group: str
    def __init__(self, model: _Optional[str] = ..., group: _Optional[str] = ...) -> None: ...

class Price(_message.Message):
    __slots__ = ("input_per_mtok_micros", "output_per_mtok_micros", "cached_input_per_mtok_micros", "version", "cache_write_per_mtok_micros", "per_request_micros", "per_image_micros", "per_audio_second_micros", "per_mchar_micros")
    class PerImageMicrosEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    INPUT_PER_MTOK_MICROS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PER_MTOK_MICROS_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_PER_MTOK_MICROS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_PER_MTOK_MICROS_FIELD_NUMBER: _ClassVar[int]
    PER_REQUEST_MICROS_FIELD_NUMBER: _ClassVar[int]
    PER_IMAGE_MICROS_FIELD_NUMBER: _ClassVar[int]
    PER_AUDIO_SECOND_MICROS_FIELD_NUMBER: _ClassVar[int]
    PER_MCHAR_MICROS_FIELD_NUMBER: _ClassVar[int]
    input_per_mtok_micros: int
    output_per_mtok_micros: int
    cached_input_per_mtok_micros: int
    version: str
    cache_write_per_mtok_micros: int
    per_request_micros: int
    per_image_micros: _containers.ScalarMap[str, int]
    per_audio_second_micros: int
    per_mchar_micros: int
    def __init__(self, input_per_mtok_micros: _Optional[int] = ..., output_per_mtok_micros: _Optional[int] = ..., cached_input_per_mtok_micros: _Optional[int] = ..., version: _Optional[str] = ..., cache_write_per_mtok_micros: _Optional[int] = ..., per_request_micros: _Optional[int] = ..., per_image_micros: _Optional[_Mapping[str, int]] = ..., per_audio_second_micros: _Optional[int] = ..., per_mchar_micros: _Optional[int] = ...) -> None: ...

class DataPolicy(_message.Message):
    __slots__ = ("zdr", "trains_on_data", "retention_days", "vendor")
    ZDR_FIELD_NUMBER: _ClassVar[int]
    TRAINS_ON_DATA_FIELD_NUMBER: _ClassVar[int]
    RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    zdr: bool
    trains_on_data: bool
    retention_days: int
    vendor: str
    def __init__(self, zdr: _Optional[bool] = ..., trains_on_data: _Optional[bool] = ..., retention_days: _Optional[int] = ..., vendor: _Optional[str] = ...) -> None: ...

class Timeouts(_message.Message):
    __slots__ = ("connect_ms", "first_byte_ms", "total_ms", "idle_ms")
    CONNECT_MS_FIELD_NUMBER: _ClassVar[int]
    FIRST_BYTE_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    IDLE_MS_FIELD_NUMBER: _ClassVar[int]
    connect_ms: int
    first_byte_ms: int
    total_ms: int
    idle_ms: int
    def __init__(self, connect_ms: _Optional[int] = ..., first_byte_ms: _Optional[int] = ..., total_ms: _Optional[int] = ..., idle_ms: _Optional[int] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("channel_id", "provider", "base_url", "api_key_env", "upstream_model", "priority", "weight", "data_policy", "region", "state", "latency_ewma_ms", "api_key_file", "price", "rpm", "tpm", "settings")
    class SettingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ENV_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_MODEL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    DATA_POLICY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_EWMA_MS_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FILE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    RPM_FIELD_NUMBER: _ClassVar[int]
    TPM_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    provider: str
    base_url: str
    api_key_env: str
    upstream_model: str
    priority: int
    weight: int
    data_policy: DataPolicy
    region: str
    state: str
    latency_ewma_ms: float
    api_key_file: str
    price: Price
    rpm: int
    tpm: int
    settings: _containers.ScalarMap[str, str]
    def __init__(self, channel_id: _Optional[str] = ..., provider: _Optional[str] = ..., base_url: _Optional[str] = ..., api_key_env: _Optional[str] = ..., upstream_model: _Optional[str] = ..., priority: _Optional[int] = ..., weight: _Optional[int] = ..., data_policy: _Optional[_Union[DataPolicy, _Mapping]] = ..., region: _Optional[str] = ..., state: _Optional[str] = ..., latency_ewma_ms: _Optional[float] = ..., api_key_file: _Optional[str] = ..., price: _Optional[_Union[Price, _Mapping]] = ..., rpm: _Optional[int] = ..., tpm: _Optional[int] = ..., settings: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RouteResponse(_message.Message):
    __slots__ = ("model", "price", "candidates", "table_version", "timeouts", "capabilities", "context_length", "max_output_tokens", "sensitivity")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    TABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    model: str
    price: Price
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    table_version: int
    timeouts: Timeouts
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    context_length: int
    max_output_tokens: int
    sensitivity: str
    def __init__(self, model: _Optional[str] = ..., price: _Optional[_Union[Price, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., table_version: _Optional[int] = ..., timeouts: _Optional[_Union[Timeouts, _Mapping]] = ..., capabilities: _Optional[_Iterable[str]] = ..., context_length: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., sensitivity: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: str
    def __init__(self, group: _Optional[str] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("id", "aliases", "owned_by", "created", "price", "context_length", "max_output_tokens", "capabilities", "sensitivity")
    ID_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    OWNED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    id: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    owned_by: str
    created: int
    price: Price
    context_length: int
    max_output_tokens: int
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    sensitivity: str
    def __init__(self, id: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., owned_by: _Optional[str] = ..., created: _Optional[int] = ..., price: _Optional[_Union[Price, _Mapping]] = ..., context_length: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., capabilities: _Optional[_Iterable[str]] = ..., sensitivity: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "table_version")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    table_version: int
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ..., table_version: _Optional[int] = ...) -> None: ...

class ListChannelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ChannelStatus(_message.Message):
    __slots__ = ("channel_id", "provider", "state", "error_rate", "samples", "latency_ewma_ms", "disabled_reason", "cooldown_until_ms", "models", "data_policy")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    LATENCY_EWMA_MS_FIELD_NUMBER: _ClassVar[int]
    DISABLED_REASON_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DATA_POLICY_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    provider: str
    state: str
    error_rate: float
    samples: int
    latency_ewma_ms: float
    disabled_reason: str
    cooldown_until_ms: int
    models: _containers.RepeatedScalarFieldContainer[str]
    data_policy: DataPolicy
    def __init__(self, channel_id: _Optional[str] = ..., provider: _Optional[str] = ..., state: _Optional[str] = ..., error_rate: _Optional[float] = ..., samples: _Optional[int] = ..., latency_ewma_ms: _Optional[float] = ..., disabled_reason: _Optional[str] = ..., cooldown_until_ms: _Optional[int] = ..., models: _Optional[_Iterable[str]] = ..., data_policy: _Optional[_Union[DataPolicy, _Mapping]] = ...) -> None: ...

class ListChannelsResponse(_message.Message):
    __slots__ = ("channels", "table_version")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    TABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedCompositeFieldContainer[ChannelStatus]
    table_version: int
    def __init__(self, channels: _Optional[_Iterable[_Union[ChannelStatus, _Mapping]]] = ..., table_version: _Optional[int] = ...) -> None: ...

class SetChannelEnabledRequest(_message.Message):
    __slots__ = ("channel_id", "enabled", "reason")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    enabled: bool
    reason: str
    def __init__(self, channel_id: _Optional[str] = ..., enabled: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class ListGroupsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Group(_message.Message):
    __slots__ = ("name", "multiplier_numerator", "multiplier_denominator", "models")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_NUMERATOR_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_DENOMINATOR_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    multiplier_numerator: int
    multiplier_denominator: int
    models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., multiplier_numerator: _Optional[int] = ..., multiplier_denominator: _Optional[int] = ..., models: _Optional[_Iterable[str]] = ...) -> None: ...

class ListGroupsResponse(_message.Message):
    __slots__ = ("groups", "table_version")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    TABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    table_version: int
    def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ..., table_version: _Optional[int] = ...) -> None: ...
