"""The drawing page in a real headless Chromium (the system's, never a downloaded one), against a real server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from servekit import LiveServer, install_tiny_model

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions import interaction  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.actions.pointer_input import PointerInput  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                       reason="needs the Debian chromium and chromium-driver packages (.ci/run installs them)"),
]


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    # an explicit driver path: Selenium Manager never downloads anything
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER,
                                                              log_output=str(tmp_path / "chromedriver.log")),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


def stroke(driver, canvas, points):
    """Press, move through `points` (offsets from the canvas centre), release: mouse events as a child draws."""
    chain = ActionChains(driver).move_to_element_with_offset(canvas, *points[0]).click_and_hold()
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        chain.move_by_offset(x1 - x0, y1 - y0)
    chain.release().perform()


def finger_stroke(driver, canvas, points):
    """The same with a touch pointer, as on a tablet."""
    actions = ActionBuilder(driver, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
    actions.pointer_action.move_to(canvas, *points[0]).pointer_down()
    for x, y in points[1:]:
        actions.pointer_action.move_to(canvas, x, y)
    actions.pointer_action.pointer_up()
    actions.perform()


def picture_src(driver) -> str | None:
    return driver.execute_script(
        "const img = document.getElementById('result');"
        "return img.complete && img.naturalWidth > 0 ? img.getAttribute('src') : null;")


def test_a_child_draws_and_gets_a_picture(tmp_path, browser):
    install_tiny_model(tmp_path, "demo", size=64)
    with LiveServer(tmp_path, tmp_path / "server.log") as server:
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#themes .theme.chosen"))
        assert browser.find_element(By.CSS_SELECTOR, "#themes .theme.chosen").text == "Demo faces"

        make = browser.find_element(By.ID, "make")
        make.click()  # nothing drawn yet
        assert "Draw something" in browser.find_element(By.ID, "message").text

        canvas = browser.find_element(By.ID, "pad")
        stroke(browser, canvas, [(-120, -100), (-60, -140), (0, -150), (60, -140), (120, -100), (150, 0),
                                 (120, 100), (0, 150), (-120, 100), (-150, 0), (-120, -100)])
        stroke(browser, canvas, [(-60, -40), (-50, -30)])
        stroke(browser, canvas, [(50, -40), (60, -30)])
        finger_stroke(browser, canvas, [(-60, 50), (0, 80), (60, 50)])
        ink = browser.execute_script(
            "const c = document.getElementById('pad'); const d = c.getContext('2d').getImageData(0, 0, c.width, "
            "c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++; return n;")
        assert ink > 1000  # the strokes (mouse and finger) reached the canvas

        make.click()
        wait.until(picture_src)
        first = picture_src(browser)
        assert browser.find_element(By.ID, "message").text == "Ta-da!"
        browser.save_screenshot(str(tmp_path / "drawing-page.png"))

        browser.find_element(By.ID, "again").click()  # another one: a new variation
        wait.until(lambda d: picture_src(d) not in (None, first))
        assert browser.find_element(By.ID, "message").text == "Ta-da!"

        for _ in range(4):
            browser.find_element(By.ID, "undo").click()
        make.click()
        assert "Draw something" in browser.find_element(By.ID, "message").text

    assert (tmp_path / "drawing-page.png").stat().st_size > 10_000
    log = (tmp_path / "server.log").read_text()
    assert log.count('"POST /v1/generate?theme=demo HTTP/1.1" 200') == 2   # the theme rides in the URL too
