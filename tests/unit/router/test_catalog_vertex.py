"""Vertex AI channels in the catalog: project and region make the base URL, the upstream
model names a known publisher, a secret reference is optional (the metadata server)."""

from __future__ import annotations

import pytest

from services.router.catalog import PROVIDER_KINDS, CatalogError
from tests.unit.router.test_catalog import catalog, channel


def vertex(**extra: str) -> str:
    models = extra.pop("models", '{ "m1" = "anthropic/claude-sonnet-4@20250514", "m2" = "gemini-2.5-flash" }')
    fields = {"project": '"my-proj"', "region": '"us-east5"', **extra}
    return channel("v", models, provider="vertex", base_url=extra.pop("base_url", ""), **fields).replace('base_url = ""\n', "")


def test_vertex_channel_builds_its_base_url() -> None:
    assert "vertex" in PROVIDER_KINDS
    cat = catalog(vertex(api_key_file='"/run/secrets/vertex-sa.json"'))
    ch = cat.channel("v")
    assert ch is not None
    assert ch.base_url == "https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5"
    assert ch.vendor == "google-vertex" and ch.region == "us-east5" and ch.api_key_file == "/run/secrets/vertex-sa.json"
    under = catalog(
        channel(
            "v",
            '{ "m1" = "gemini-2.5-flash" }',
            provider="vertex",
            base_url="http://127.0.0.1:9/vertex",
            project='"my-proj"',
            region='"global"',
        )
    )
    assert under.channels[0].base_url == "http://127.0.0.1:9/vertex/v1/projects/my-proj/locations/global"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"project": '""'}, "needs `project`"),
        ({"region": '""'}, "needs `region`"),
        ({"models": '{ "m1" = "meta/llama-4" }'}, "unknown publisher 'meta'"),
    ],
)
def test_vertex_channel_is_validated(extra: dict[str, str], message: str) -> None:
    with pytest.raises(CatalogError, match=f"channel 'v': .*{message}"):
        catalog(vertex(**extra))


def test_project_is_for_vertex_only_and_other_kinds_need_a_base_url() -> None:
    with pytest.raises(CatalogError, match="`project` is for vertex channels only"):
        catalog(channel("c", project='"my-proj"'))
    with pytest.raises(CatalogError, match="base_url is required"):
        catalog(channel("c", base_url=""))
