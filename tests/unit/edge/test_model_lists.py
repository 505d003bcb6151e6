"""services/edge/model_lists.py: the catalog in each door's shape, aliases listed, pages."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from services.edge.model_lists import (
    anthropic_model,
    anthropic_page,
    entries,
    find,
    gemini_model,
    gemini_page,
    openai_model,
)
from tollgate.errors import BadRequest, ModelNotFound
from tollgate.rpc import router_pb2 as pb

CHAT = pb.Model(
    id="chat-1", aliases=["c", "vendor/chat-1"], owned_by="v", created=1735689600, context_length=128000, max_output_tokens=8192
)
EMBED = pb.Model(id="embed-1", capabilities=["embeddings"], created=0)
LISTED = entries([CHAT, EMBED, pb.Model(id="c")])  # a name used twice is listed once


def _request(**params: str) -> SimpleNamespace:
    return SimpleNamespace(query_params=params)


def test_entries_list_ids_and_aliases_once() -> None:
    assert [name for name, _ in LISTED] == ["chat-1", "c", "vendor/chat-1", "embed-1"]
    assert find(LISTED, "vendor/chat-1")[1] is CHAT and find(LISTED, "models/c")[0] == "c"
    with pytest.raises(ModelNotFound):
        find(LISTED, "nope")


def test_each_shape() -> None:
    assert openai_model("c", CHAT) == {"id": "c", "object": "model", "created": 1735689600, "owned_by": "v"}
    assert anthropic_model("c", CHAT) == {"type": "model", "id": "c", "display_name": "c", "created_at": "2025-01-01T00:00:00Z"}
    chat = gemini_model("c", CHAT)
    assert (chat["name"], chat["baseModelId"], chat["inputTokenLimit"], chat["outputTokenLimit"]) == ("models/c", "chat-1", 128000, 8192)
    assert chat["supportedGenerationMethods"] == ["generateContent", "streamGenerateContent", "countTokens"]
    embed = gemini_model("embed-1", EMBED)
    assert embed["supportedGenerationMethods"] == ["embedContent", "batchEmbedContents"]
    assert "inputTokenLimit" not in embed and "outputTokenLimit" not in embed  # unknown: left out


def test_anthropic_pages() -> None:
    first = anthropic_page(LISTED, _request(limit="2"))
    assert [m["id"] for m in first["data"]] == ["chat-1", "c"] and first["has_more"]
    assert (first["first_id"], first["last_id"]) == ("chat-1", "c")
    rest = anthropic_page(LISTED, _request(limit="2", after_id="c"))
    assert [m["id"] for m in rest["data"]] == ["vendor/chat-1", "embed-1"] and not rest["has_more"]
    before = anthropic_page(LISTED, _request(limit="1", before_id="embed-1"))
    assert [m["id"] for m in before["data"]] == ["vendor/chat-1"] and before["has_more"]
    assert anthropic_page([], _request()) == {"data": [], "has_more": False, "first_id": None, "last_id": None}
    for bad in ({"limit": "0"}, {"limit": "x"}, {"limit": "1001"}, {"after_id": "nope"}):
        with pytest.raises(BadRequest):
            anthropic_page(LISTED, _request(**bad))


def test_gemini_pages() -> None:
    first = gemini_page(LISTED, _request(pageSize="3"))
    assert [m["name"] for m in first["models"]] == ["models/chat-1", "models/c", "models/vendor/chat-1"]
    last = gemini_page(LISTED, _request(pageSize="3", pageToken=first["nextPageToken"]))
    assert [m["name"] for m in last["models"]] == ["models/embed-1"] and "nextPageToken" not in last
    for bad in ({"pageToken": "x"}, {"pageToken": "99"}, {"pageSize": "0"}):
        with pytest.raises(BadRequest):
            gemini_page(LISTED, _request(**bad))
