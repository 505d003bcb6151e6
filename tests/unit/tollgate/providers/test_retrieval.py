"""What the native retrieval kinds share (``tollgate/providers/retrieval.py``): whatever body a
client sends, building a cohere, jina or voyage request either succeeds with the vendor's
typed body or is a 400 naming the problem, never another failure (hypothesis)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tollgate.errors import BadRequest
from tollgate.providers import REGISTRY
from tollgate.providers.retrieval import ParamTable

KINDS = ("cohere", "jina", "voyage")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ("input", "encoding_format", "dimensions", "input_type", "task", "truncate", "query", "documents", "top_n", "return_documents")
bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(KINDS), body=bodies)
def test_any_body_is_a_vendor_request_or_a_400(kind: str, body: dict) -> None:
    adapter = REGISTRY[kind]
    for build in (adapter.embeddings_request, adapter.rerank_request):
        try:
            req = build("https://vendor.test", "key", "model-x", body)
        except BadRequest:
            continue
        sent = json.loads(req.body)
        assert sent["model"] == "model-x" and req.url.startswith("https://vendor.test/v")


def test_param_table_keeps_renames_and_drops() -> None:
    table = ParamTable(mapped={"top_n": "top_k", "truncation": "truncation"})
    body = {"top_n": 3, "truncation": None, "user": "u", "query": "q"}
    assert table.apply(body) == {"top_k": 3}  # unset (None) values are not sent
    assert table.dropped(body, frozenset({"query"})) == ["user"]
