"""The page of rnntool serve in a real browser (headless Chromium through Selenium): a
prompt's generation appears as it streams, a sentence's entities are highlighted where
they are in the text, a classifier's classes are shown as bars; a screenshot is saved."""

import shutil
import time

import pytest

pytestmark = pytest.mark.browser

pytest.importorskip("starlette", reason="rnntool serve needs the [serve] extra")
webdriver = pytest.importorskip("selenium.webdriver", reason="the page test drives Chromium with selenium")

import rnntool  # noqa: E402
from helpers import Serving, tiny_ner_tagger  # noqa: E402
from rnntool.serve import create_app  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no Chromium here: apt-get install chromium chromium-driver (.ci/run does)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(condition, timeout=30.0, what="the page"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_page_streams_tags_and_classifies(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    ner = tiny_ner_tagger(tmp_path)
    app = create_app(["shakespeare-char", f"ner={ner}", "en-ewt-upos", "sms-spam"])
    with Serving(app) as url:
        browser.get(url + "/")
        wait_for(lambda: "models loaded" in browser.find_element(By.ID, "status").text, what="the models")

        # generation: the text grows while the stream runs, and ends as long as asked
        prompt = browser.find_element(By.ID, "prompt")
        prompt.clear()
        prompt.send_keys("ROMEO:")
        tokens = browser.find_element(By.ID, "max-tokens")
        tokens.clear()
        tokens.send_keys("1500")
        # every change of the continuation recorded in the page itself: polling from here could
        # miss a stream that a fast machine finishes between two looks
        browser.execute_script(
            "window.seenLengths = []; const node = document.getElementById('continuation');"
            "new MutationObserver(() => window.seenLengths.push(node.textContent.length))"
            ".observe(node, {childList: true, characterData: true, subtree: true});")
        browser.find_element(By.ID, "generate").click()
        wait_for(lambda: "generated 1500 tokens" in browser.find_element(By.ID, "status").text, what="the generation")
        lengths = browser.execute_script("return window.seenLengths")
        assert lengths and any(0 < n < max(lengths) for n in lengths), lengths  # seen part-way: it streamed
        assert browser.find_element(By.ID, "prompt-echo").text == "ROMEO:"

        # entities: each highlighted span is the text at its offsets, with its type
        Select(browser.find_element(By.ID, "tagger-model")).select_by_value("ner")
        text = "Bob Jones went to New York . Carol went to London ."
        box = browser.find_element(By.ID, "tag-text")
        box.clear()
        box.send_keys(text)
        browser.find_element(By.ID, "tag").click()
        marks = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#tagged mark.entity"), what="entities")
        found = [(m.get_attribute("data-type"), int(m.get_attribute("data-start")), int(m.get_attribute("data-end")),
                  m.find_element(By.CLASS_NAME, "entity-text").text) for m in marks]
        for kind, start, end, shown in found:
            assert text[start:end] == shown
        expected = [(s.type, s.start, s.end, s.text) for s in rnntool.load(ner).tag(text).spans]
        assert found == expected
        assert [f[0] for f in found] == ["PER", "LOC", "PER", "LOC"]
        colours = {m.get_attribute("data-type"): m.value_of_css_property("background-color") for m in marks}
        assert colours["PER"] != colours["LOC"]
        assert browser.find_element(By.ID, "tagged").text.replace("\n", " ").count("PER") == 2

        # a POS tagger: a tag under every token
        Select(browser.find_element(By.ID, "tagger-model")).select_by_value("en-ewt-upos")
        browser.find_element(By.ID, "tag").click()
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#tagged .tok .tag"), what="POS tags")
        tags = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#tagged .tok .tag")]
        assert tags == rnntool.load("en-ewt-upos").tag(text).tags

        # classification: one bar per class, the chosen one first
        message = browser.find_element(By.ID, "classify-text")
        message.clear()
        message.send_keys("WINNER!! You have won a free prize, call now to claim it")
        browser.find_element(By.ID, "classify").click()
        rows = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#classes .class-row"), what="the bars")
        expected = rnntool.load("sms-spam").classify("WINNER!! You have won a free prize, call now to claim it")
        assert [r.get_attribute("data-label") for r in rows] == [c for c, _ in expected.top(len(rows))]
        assert "chosen" in rows[0].get_attribute("class") and rows[0].get_attribute("data-label") == expected.label
        browser.save_screenshot(str(tmp_path / "serve-page.png"))
    assert (tmp_path / "serve-page.png").stat().st_size > 10_000
