from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RouteRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class Price(_message.Message):
    __slots__ = ("input_per_mtok_micros", "output_per_mtok_micros", "cached_input_per_mtok_micros", "version")
    INPUT_PER_MTOK_MICROS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PER_MTOK_MICROS_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_PER_MTOK_MICROS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    input_per_mtok_micros: int
    output_per_mtok_micros: int
    cached_input_per_mtok_micros: int
    version: str
    def __init__(self, input_per_mtok_micros: _Optional[int] = ..., output_per_mtok_micros: _Optional[int] = ..., cached_input_per_mtok_micros: _Optional[int] = ..., version: _Optional[str] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("channel_id", "provider", "base_url", "api_key_env", "upstream_model", "priority", "weight")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ENV_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_MODEL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    provider: str
    base_url: str
    api_key_env: str
    upstream_model: str
    priority: int
    weight: int
    def __init__(self, channel_id: _Optional[str] = ..., provider: _Optional[str] = ..., base_url: _Optional[str] = ..., api_key_env: _Optional[str] = ..., upstream_model: _Optional[str] = ..., priority: _Optional[int] = ..., weight: _Optional[int] = ...) -> None: ...

class RouteResponse(_message.Message):
    __slots__ = ("model", "price", "candidates", "table_version")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    TABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    price: Price
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    table_version: int
    def __init__(self, model: _Optional[str] = ..., price: _Optional[_Union[Price, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., table_version: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Model(_message.Message):
    __slots__ = ("id", "aliases", "owned_by", "created", "price")
    ID_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    OWNED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    id: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    owned_by: str
    created: int
    price: Price
    def __init__(self, id: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., owned_by: _Optional[str] = ..., created: _Optional[int] = ..., price: _Optional[_Union[Price, _Mapping]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "table_version")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    table_version: int
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ..., table_version: _Optional[int] = ...) -> None: ...
