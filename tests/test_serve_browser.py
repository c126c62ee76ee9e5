"""`mapo serve`'s page in a real browser: upload a table, ask, see the answer highlighted."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from mapo_cli import Parser
from mapo_cli.serve import create_app

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                 "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="no Chromium and chromedriver here; `make test` installs Debian's chromium and "
    "chromium-driver when it runs as root (apt-get)")

CITIES = ("City,Country,Population\nOslo,Norway,709037\nBergen,Norway,285911\n"
          "Lima,Peru,9751717\nCusco,Peru,428450\nKyoto,Japan,1463723\n")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The app on a free port, in a thread of this process; its address once it listens."""
    config = uvicorn.Config(create_app(Parser.load()), host="127.0.0.1", port=0,
                            log_level="warning")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    while not served.started:  # the server sets it once its socket listens
        if not thread.is_alive():
            pytest.fail("the server did not start")
        thread.join(0.05)
    port = served.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1200,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_a_person_uploads_a_table_asks_and_sees_the_answer_highlighted(
        server: str, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(server + "/")
    wait.until(lambda d: d.find_element(By.ID, "model").text.startswith("model:"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#table tbody tr")) == 10)

    table = tmp_path / "cities.csv"
    table.write_text(CITIES)
    browser.find_element(By.ID, "upload").send_keys(str(table))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#table tbody tr")) == 5)
    question = "which city has the largest population?"
    field = browser.find_element(By.ID, "question")
    field.send_keys(question, Keys.ENTER)  # the keyboard alone asks
    wait.until(lambda d: d.find_element(By.ID, "answer").text)

    expected = httpx.post(server + "/api/ask", json={"question": question, "csv": CITIES},
                          timeout=60).json()
    assert browser.find_element(By.ID, "answer").text == " | ".join(expected["answer"])
    assert expected["answer"] == ["Lima"]
    last = expected["programs"][0]["steps"][-1]
    kept = browser.find_elements(By.CSS_SELECTOR, "#table tbody tr.kept")
    assert [int(row.find_element(By.CSS_SELECTOR, "td.index").text) for row in kept] == \
        last["rows"]
    assert [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "td.answer")] == ["Lima"]
    programs = browser.find_elements(By.CSS_SELECTOR, "#programs button")
    assert programs[0].get_attribute("aria-pressed") == "true"
    assert expected["programs"][0]["program"] in programs[0].text

    steps = browser.find_elements(By.CSS_SELECTOR, "#steps button")
    steps[0].click()  # the first step: what it kept is highlighted instead
    first = expected["programs"][0]["steps"][0]
    wait.until(lambda d: steps[0].get_attribute("aria-pressed") == "true")
    kept = browser.find_elements(By.CSS_SELECTOR, "#table tbody tr.kept")
    assert [int(row.find_element(By.CSS_SELECTOR, "td.index").text) for row in kept] == \
        first["rows"]
    shot = tmp_path / "serve.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_a_bad_table_is_a_message_on_the_page(server: str, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_element(By.ID, "model").text.startswith("model:"))
    browser.find_element(By.ID, "example").send_keys("(your own)")
    browser.execute_script("document.getElementById('csv').value = 'Nation,Gold\\nNorway';")
    browser.find_element(By.ID, "question").send_keys("which?")
    browser.find_element(By.ID, "ask").click()
    wait.until(lambda d: "ragged table" in d.find_element(By.ID, "status").text)
    assert "error" in browser.find_element(By.ID, "status").get_attribute("class")
