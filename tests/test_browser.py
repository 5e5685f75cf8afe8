"""The drawing page in a real headless Chromium (the system's, never a downloaded one), against a real server."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from servekit import LiveServer, hue_degrees, hue_gap, install_tiny_model

from icanvas.pipeline.painter import Painter
from icanvas.pix2pix.checkpoints import install_model

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


# ---- the crayon box ------------------------------------------------------------------------------------------

# the page's crayons, exactly: the server reads these colours as colour hints
CRAYONS = {"Red": "#e53935", "Orange": "#fb8c00", "Yellow": "#fdd835", "Green": "#43a047", "Blue": "#1e88e5",
           "Light blue": "#4fc3f7", "Purple": "#8e24aa", "Pink": "#ec407a", "Brown": "#a0522d", "Skin": "#f5b183"}
WHITE = (255, 255, 255)

# keeps every drawing the page posts, as a Blob, before it goes to the server
CAPTURE_POSTS = """
window.postedSketches = [];
const send = window.fetch;
window.fetch = (url, init) => {
  if (init && init.body instanceof FormData) window.postedSketches.push(init.body.get("sketch"));
  return send(url, init);
};"""


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def data_url_image(url: str) -> np.ndarray:
    """A PNG data URL as HxWx3 uint8, after checking the paper is opaque."""
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert img.format == "PNG"
    arr = np.asarray(img.convert("RGBA"))
    assert arr[..., 3].min() == 255   # white paper, not transparent
    return arr[..., :3]


def shown(driver) -> np.ndarray:
    """What the drawing area shows (and sends)."""
    return data_url_image(driver.execute_script("return document.getElementById('pad').toDataURL('image/png');"))


def posted(driver, index: int) -> np.ndarray:
    """The `index`-th drawing the page posted to /v1/generate."""
    return data_url_image(driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; const reader = new FileReader();"
        "reader.onload = () => done(reader.result); reader.readAsDataURL(window.postedSketches[arguments[0]]);",
        index))


class Pad:
    """Draws on the page's canvas by offsets from its centre (CSS pixels) and reads pixels at the same offsets."""

    def __init__(self, driver):
        self.driver = driver
        self.canvas = driver.find_element(By.ID, "pad")
        self.side, self.scale = driver.execute_script(
            "const c = document.getElementById('pad'); return [c.width, c.width / c.clientWidth];")

    def at(self, image: np.ndarray, dx: float, dy: float) -> tuple[int, ...]:
        return tuple(int(v) for v in image[round(self.side / 2 + dy * self.scale),
                                           round(self.side / 2 + dx * self.scale)])

    def black_near(self, image: np.ndarray, dx: float, dy: float, reach: int = 8) -> bool:
        """Whether a pen line passes within `reach` canvas pixels left or right of the offset."""
        y, x = round(self.side / 2 + dy * self.scale), round(self.side / 2 + dx * self.scale)
        return bool((image[y, x - reach:x + reach + 1].max(axis=1) < 60).any())

    def line(self, x0, y0, x1, y1):
        stroke(self.driver, self.canvas, [(x0, y0), ((x0 + x1) // 2, (y0 + y1) // 2), (x1, y1)])

    def patch(self, top: int, bottom: int, left: int = -90, right: int = 90):
        """Broad crayon strokes side by side, 20 px apart, filling the band between `top` and `bottom`."""
        for y in range(top, bottom + 1, 20):
            self.line(left, y, right, y)


def click(driver, label: str):
    driver.find_element(By.CSS_SELECTOR, f'[aria-label="{label}"]').click()


def pressed(driver, selector: str) -> list[str]:
    """The labels (aria-label or id) of the buttons under `selector` that are marked pressed."""
    return [b.get_attribute("aria-label") or b.get_attribute("id")
            for b in driver.find_elements(By.CSS_SELECTOR, selector) if b.get_attribute("aria-pressed") == "true"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("crayons")
    install_tiny_model(root, "demo", size=64)
    with LiveServer(root, root / "server.log") as server:
        yield server


def open_page(driver, server) -> Pad:
    driver.get(server.url + "/")
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#themes .theme.chosen"))
    return Pad(driver)


def test_crayon_box_holds_the_pen_and_ten_labelled_crayons(browser, served):
    open_page(browser, served)
    swatches = browser.find_elements(By.CSS_SELECTOR, "#crayons .swatch")
    assert len(swatches) == 11 and all(s.is_displayed() for s in swatches)
    assert [s.get_attribute("aria-label") for s in swatches] == ["Black pen"] + [f"{c} crayon" for c in CRAYONS]
    shows = [browser.execute_script("return getComputedStyle(arguments[0]).backgroundColor;", s) for s in swatches]
    assert shows == [f"rgb{rgb(c)}" for c in ["#000000", *CRAYONS.values()]]   # each swatch shows the colour it draws
    assert min(s.size["width"] for s in swatches) >= 48 and min(s.size["height"] for s in swatches) >= 48  # fingers

    assert pressed(browser, ".tools .tool") == ["pen"] and pressed(browser, "#crayons .swatch") == ["Black pen"]
    click(browser, "Green crayon")
    assert pressed(browser, ".tools .tool") == ["crayon"] and pressed(browser, "#crayons .swatch") == ["Green crayon"]
    browser.find_element(By.ID, "eraser").click()
    assert pressed(browser, ".tools .tool") == ["eraser"] and pressed(browser, "#crayons .swatch") == []
    browser.find_element(By.ID, "crayon").click()   # the crayon comes back in the colour it had
    assert pressed(browser, ".tools .tool") == ["crayon"] and pressed(browser, "#crayons .swatch") == ["Green crayon"]
    click(browser, "Black pen")
    assert pressed(browser, ".tools .tool") == ["pen"] and pressed(browser, "#crayons .swatch") == ["Black pen"]


def test_crayon_colour_is_posted_exactly_under_black_lines(browser, served):
    pad = open_page(browser, served)
    browser.execute_script(CAPTURE_POSTS)
    pad.line(-40, -100, -40, 140)          # a line, then colour over it...
    click(browser, "Red crayon")
    pad.patch(-40, 40)
    click(browser, "Light blue crayon")
    pad.patch(100, 120)
    browser.find_element(By.ID, "pen").click()
    pad.line(40, -100, 40, 140)            # ...and a line over the colour
    browser.find_element(By.ID, "make").click()
    WebDriverWait(browser, 30).until(picture_src)
    assert browser.find_element(By.ID, "message").text == "Ta-da!"

    sent = posted(browser, 0)
    assert (sent == shown(browser)).all()   # what the child sees is what is sent
    red, light_blue = rgb(CRAYONS["Red"]), rgb(CRAYONS["Light blue"])
    for dx, dy in [(0, 0), (-70, -30), (70, 30), (-80, 0), (0, 40)]:
        assert pad.at(sent, dx, dy) == red
    assert pad.at(sent, 0, 110) == pad.at(sent, -70, 100) == light_blue
    assert pad.at(sent, 0, -80) == pad.at(sent, -150, 0) == pad.at(sent, 0, 190) == WHITE  # paper around the colour
    assert (sent == red).all(axis=2).sum() > 0.7 * (180 * 80) * pad.scale ** 2   # a broad patch, not a thin line
    for dy in (0, 30, 110):   # both lines stay black across both colours
        assert pad.black_near(sent, -40, dy) and pad.black_near(sent, 40, dy)
    assert not pad.black_near(sent, 0, 0)
    assert '"POST /v1/generate?theme=demo HTTP/1.1" 200' in served.log.read_text()


def test_undo_eraser_and_clear_take_colour_back(browser, served):
    pad = open_page(browser, served)
    red, yellow = rgb(CRAYONS["Red"]), rgb(CRAYONS["Yellow"])
    click(browser, "Red crayon")
    pad.line(-90, 0, 90, 0)               # one broad stroke each: undo takes back one stroke
    click(browser, "Black pen")
    pad.line(0, -80, 0, 80)
    click(browser, "Yellow crayon")
    pad.line(-90, 0, 90, 0)               # yellow over red and over the line
    image = shown(browser)
    assert pad.at(image, -50, 0) == yellow and pad.black_near(image, 0, 0) and pad.black_near(image, 0, -60)

    undo = browser.find_element(By.ID, "undo")
    undo.click()                           # the yellow goes, the red under it comes back
    image = shown(browser)
    assert pad.at(image, -50, 0) == red and pad.black_near(image, 0, 0)
    undo.click()                           # the line goes, the red stays
    image = shown(browser)
    assert pad.at(image, -50, 0) == pad.at(image, 0, 0) == red and not pad.black_near(image, 0, -60)

    click(browser, "Black pen")
    pad.line(0, -80, 0, 80)
    browser.find_element(By.ID, "eraser").click()
    pad.line(-90, 0, 90, 0)                # the eraser (narrower than the crayon) takes lines and colour alike
    image = shown(browser)
    assert pad.at(image, -50, 0) == pad.at(image, 0, 0) == WHITE
    assert pad.at(image, -50, 14) == red and pad.black_near(image, 0, -60)
    undo.click()                           # and undo puts both back, the line on top
    image = shown(browser)
    assert pad.at(image, -50, 0) == red and pad.black_near(image, 0, 0)

    browser.find_element(By.ID, "clear").click()
    assert (shown(browser) == 255).all()
    browser.find_element(By.ID, "make").click()
    assert "Draw something" in browser.find_element(By.ID, "message").text


def test_the_picture_follows_the_crayon(browser, hint_model, tmp_path):
    """End to end with a model trained with colour hints: lines and a crayon patch drawn on the page, the picture
    the server sends back has the crayon's hue where the patch lies."""
    install_model(tmp_path, hint_model)
    painter = Painter.from_pretrained(tmp_path / "models" / "demo", device="cpu")
    with LiveServer(tmp_path, tmp_path / "server.log") as server:
        for name in ("Blue", "Red"):
            pad = open_page(browser, server)
            browser.execute_script(CAPTURE_POSTS)
            click(browser, "Black pen")
            stroke(browser, pad.canvas, [(-150, 0), (-100, -90), (0, -110), (100, -90), (150, 0), (100, 90),
                                         (0, 110), (-100, 90), (-150, 0)])
            click(browser, f"{name} crayon")
            pad.patch(-40, 40, -70, 70)
            browser.find_element(By.ID, "make").click()
            WebDriverWait(browser, 30).until(picture_src)
            picture = data_url_image(browser.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "fetch(document.getElementById('result').src).then(r => r.blob()).then(b => {"
                "const reader = new FileReader(); reader.onload = () => done(reader.result); reader.readAsDataURL(b);"
                "});"))
            read = painter.read(posted(browser, 0))           # where the server saw the crayon, at model size
            mask = read.hints[:, :, 3] > 127
            assert mask.sum() > 50
            under = np.asarray(Image.fromarray(picture).resize(mask.shape[::-1]))[mask].mean(axis=0)
            want = rgb(CRAYONS[name])
            assert hue_gap(hue_degrees(under), hue_degrees(want)) < 30, f"{name}: {under.round()} under {want}"
