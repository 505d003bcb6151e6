"""The dashboard's usage chart shows images and audio seconds per model (headless Chromium),
the same figures as metering's /v1/usage."""

from __future__ import annotations

import openai

from tests.e2e.test_dashboard import Page, api, browser, eventually  # noqa: F401  (browser: the fixture)
from tests.e2e.test_uploads import tone_wav


def test_the_usage_chart_shows_images_and_audio_seconds_per_model(stack, new_account, browser):  # noqa: F811
    account_id, key = new_account(name="dashboard-audio")
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    c.images.generate(model="image-1", prompt="a fox", n=2, size="256x256")
    c.images.edit(model="image-1", image=("in.png", tone_png(), "image/png"), prompt="a hat", size="256x256")
    for seconds in (2.5, 1.25):
        c.audio.transcriptions.create(model="whisper-1", file=("a.wav", tone_wav(seconds), "audio/wav"))
    c.audio.speech.create(model="tts-1", voice="alloy", input="Hello there.", response_format="wav")
    eventually(lambda: len(api(stack, "/v1/usage", key, bucket="none", group_by="model")["data"]) == 3)
    by_model = {r["model"]: r["units"] for r in api(stack, "/v1/usage", key, bucket="none", group_by="model")["data"]}
    assert by_model == {"image-1": {"image": 3}, "whisper-1": {"audio_ms": 3750}, "tts-1": {"character": 12}}

    page = Page(browser)
    page.sign_in(f"{stack.metering_url}/dashboard", key)
    page.wait(lambda: page.text("who") == account_id)
    page.wait(lambda: len(page.rows("models-table")) == 3)
    shown = {row[0]: row[-1] for row in page.rows("models-table")}
    assert shown["whisper-1"] == "3.8 s audio" and shown["image-1"] == "3 images"

    traces = "return document.getElementById('chart-usage').data.map(t => [t.name, t.y.reduce((a, b) => a + b, 0)])"
    page.select("usage-metric", "images")
    page.wait(lambda: dict(browser.execute_script(traces)) == {"image-1": 3})
    page.select("usage-metric", "audio_s")
    page.wait(lambda: dict(browser.execute_script(traces)) == {"whisper-1": 3.75})
    assert "audio seconds" in browser.execute_script("return document.querySelector('#chart-usage .ytitle').textContent")
    assert not page.errors()


def tone_png() -> bytes:
    from tools.provider_sim.media import png

    return png(32, 32, (200, 10, 10))
