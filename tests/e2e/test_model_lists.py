"""The catalog through each SDK's own model calls: ``anthropic.models.list()`` / ``.retrieve()``,
``genai.models.list()`` / ``.get()``, ``openai.models.list()`` / ``.retrieve()``; aliases are
listed, unknown ids are each protocol's 404."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gtypes


def _base(stack) -> str:
    return stack.edge_url.removesuffix("/v1")


def test_openai_models_list_and_retrieve(stack, new_account):
    _, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    listed = {m.id: m for m in c.models.list()}
    assert {"sim-1", "sim", "tollgate/sim-1", "embed-1", "contract-gemini"} <= set(listed)  # aliases too
    model = c.models.retrieve("sim-1")
    assert (model.id, model.object, model.owned_by, model.created) == ("sim-1", "model", "tollgate-simulator", 1735689600)
    alias = c.models.retrieve("tollgate/sim-1")  # a slash in the id: the whole rest of the path
    assert (alias.id, alias.created) == ("tollgate/sim-1", 1735689600)
    with pytest.raises(openai.NotFoundError) as err:
        c.models.retrieve("no-such-model")
    assert err.value.body["code"] == "model_not_found"


def test_anthropic_models_list_pages_and_retrieve(stack, new_account):
    _, key = new_account()
    c = anthropic.Anthropic(base_url=_base(stack), api_key=key, max_retries=0, timeout=30)
    everything = [m.id for m in c.models.list(limit=3)]  # the SDK follows has_more / last_id page by page
    assert len(everything) == len(set(everything)) and {"sim-1", "sim", "contract-anthropic"} <= set(everything)
    page = c.models.list(limit=2)
    assert len(page.data) == 2 and page.has_more and page.first_id == page.data[0].id and page.last_id == page.data[1].id
    assert all(m.type == "model" for m in page.data)
    model = c.models.retrieve("sim-1")
    assert (model.id, model.display_name, model.type) == ("sim-1", "sim-1", "model")
    assert model.created_at.year == 2025  # created = 1735689600
    with pytest.raises(anthropic.NotFoundError) as err:
        c.models.retrieve("no-such-model")
    assert err.value.body["error"]["type"] == "not_found_error"
    bad = httpx.get(stack.edge_url + "/models", params={"limit": 0}, headers={"x-api-key": key, "anthropic-version": "2023-06-01"})
    assert bad.status_code == 400 and bad.json()["type"] == "error"
    unauthorized = httpx.get(stack.edge_url + "/models", headers={"x-api-key": "sk-not-a-key", "anthropic-version": "2023-06-01"})
    assert unauthorized.status_code == 401 and unauthorized.json()["error"]["type"] == "authentication_error"


def test_genai_models_list_and_get(stack, new_account):
    _, key = new_account()
    c = genai.Client(api_key=key, http_options=gtypes.HttpOptions(base_url=_base(stack) + "/gemini"))
    listed = {m.name: m for m in c.models.list(config={"page_size": 5})}  # several pages
    assert {"models/sim-1", "models/sim", "models/embed-1", "models/contract-openai"} <= set(listed)
    assert "generateContent" in listed["models/sim-1"].supported_actions
    assert listed["models/embed-1"].supported_actions == ["embedContent", "batchEmbedContents"]
    model = c.models.get(model="sim-1")
    assert (model.name, model.display_name) == ("models/sim-1", "sim-1")
    with pytest.raises(genai_errors.ClientError) as err:
        c.models.get(model="no-such-model")
    assert err.value.code == 404 and err.value.status == "NOT_FOUND"
    missing = httpx.get(_base(stack) + "/gemini/v1beta/models", timeout=10)
    assert missing.status_code == 401 and "x-goog-api-key" in missing.json()["error"]["message"]
