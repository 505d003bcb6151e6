"""The dashboard shows units beyond tokens per model — images, characters spoken, requests —
as metering's API has them, and each request's own units in its detail (headless Chromium)."""

from __future__ import annotations

import openai

from tests.e2e.test_dashboard import Page, api, browser, eventually  # noqa: F401  (browser: the fixture)
from tests.e2e.test_media import requests_of


def test_dashboard_shows_images_and_speech_per_model(stack, new_account, browser):  # noqa: F811
    account_id, key = new_account(name="dashboard-units")
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    c.images.generate(model="image-1", prompt="a fox", n=2, size="256x256")
    c.images.generate(model="image-1", prompt="a hen", size="256x256")
    c.audio.speech.create(model="tts-1", voice="alloy", input="Hello there, dashboard.", response_format="wav")  # 23 characters
    c.moderations.create(model="moderation-1", input="fine")
    eventually(lambda: len(api(stack, "/v1/usage", key, bucket="none", group_by="model")["data"]) == 3)
    by_model = {r["model"]: r["units"] for r in api(stack, "/v1/usage", key, bucket="none", group_by="model")["data"]}
    assert by_model == {"image-1": {"image": 3}, "tts-1": {"character": 23}, "moderation-1": {"request": 1}}

    page = Page(browser)
    page.sign_in(f"{stack.metering_url}/dashboard", key)
    page.wait(lambda: page.text("who") == account_id)
    page.wait(lambda: len(page.rows("models-table")) == 3)
    shown = {row[0]: row[-1] for row in page.rows("models-table")}
    assert shown == {"image-1": "3 images", "tts-1": "23 chars", "moderation-1": "1 request"}

    ranked = {row[1]: row[-1] for row in page.rows("rankings-models")}
    assert ranked["image-1"].endswith("images") and ranked["tts-1"].endswith("chars")

    image_request = requests_of(stack, account_id, "images", 2)[0]
    browser.find_element(page.By.CSS_SELECTOR, f'#requests-table tr[data-request-id="{image_request["request_id"]}"]').click()
    page.wait(lambda: page.find("request-detail").is_displayed())
    detail = {dd.get_attribute("data-field"): dd.text for dd in browser.find_elements(page.By.CSS_SELECTOR, "#request-detail dd")}
    quantity = image_request["units"][0]["quantity"]
    assert detail["units"] == f"{quantity} image{'s' if quantity > 1 else ''} (256x256/standard)"
    assert not page.errors()
