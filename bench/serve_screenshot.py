"""The README's picture of rnntool serve's page: the bundled models and a small entity
tagger trained on the spot, the page driven in headless Chromium, saved as a PNG.

    python bench/serve_screenshot.py [docs/images/serve-page.png]

Needs the serve extra, selenium, and Chromium with its driver (apt-get install chromium
chromium-driver).
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import Serving, tiny_ner_tagger  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from rnntool.serve import create_app  # noqa: E402


def until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the page did not answer")
        time.sleep(0.05)


def fill(driver, element_id, text):
    box = driver.find_element(By.ID, element_id)
    box.clear()
    box.send_keys(text)


def main(output: str = "docs/images/serve-page.png") -> None:
    options = Options()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1500,900",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    with tempfile.TemporaryDirectory() as tmp:
        ner = tiny_ner_tagger(Path(tmp))
        with Serving(create_app(["shakespeare-char", "en-ewt-upos", f"people-and-places={ner}", "sms-spam"])) as url:
            driver.get(url + "/")
            until(lambda: "models loaded" in driver.find_element(By.ID, "status").text)
            fill(driver, "max-tokens", "400")
            driver.find_element(By.ID, "generate").click()
            until(lambda: "generated" in driver.find_element(By.ID, "status").text)
            Select(driver.find_element(By.ID, "tagger-model")).select_by_value("people-and-places")
            fill(driver, "tag-text", "Alice Smith went to New York . Bob Jones went to London .")
            driver.find_element(By.ID, "tag").click()
            until(lambda: driver.find_elements(By.CSS_SELECTOR, "#tagged mark.entity"))
            driver.find_element(By.ID, "classify").click()
            until(lambda: driver.find_elements(By.CSS_SELECTOR, "#classes .class-row"))
            driver.save_screenshot(output)
    driver.quit()
    print(output)


if __name__ == "__main__":
    main(*sys.argv[1:])
