"""The drawing page in a real headless Chromium (the system's, never a downloaded one), against a real server."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from servekit import LiveServer, hue_degrees, hue_gap, install_tiny_model

from icanvas.inference.painter import Painter
from icanvas.pix2pix.checkpoints import install_model
from icanvas.sketch.normalize import NormalizeOptions

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
        again = browser.find_element(By.ID, "again")
        assert "Another one" in again.text and again.get_attribute("aria-label") == "Another picture"
        assert not browser.find_element(By.ID, "keep").is_displayed()   # a model that chooses no colours

        again.click()  # another one: a new variation
        wait.until(lambda d: picture_src(d) not in (None, first))
        assert browser.find_element(By.ID, "message").text == "Ta-da!"

        for _ in range(4):
            browser.find_element(By.ID, "undo").click()
        make.click()
        assert "Draw something" in browser.find_element(By.ID, "message").text

    assert (tmp_path / "drawing-page.png").stat().st_size > 10_000
    log = (tmp_path / "server.log").read_text()
    assert log.count('"POST /v1/generate?theme=demo HTTP/1.1" 200') == 2   # the theme rides in the URL too


def test_with_keys_the_page_asks_once_and_keeps_the_key_in_the_tab(tmp_path, browser):
    from icanvas.server.access import add_key

    install_tiny_model(tmp_path, "demo", size=64)
    key = add_key(tmp_path / "keys.txt", "page")
    with LiveServer(tmp_path, tmp_path / "server.log", "--api-keys", str(tmp_path / "keys.txt")) as server:
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: _alert(d)).send_keys("ick_wrong")     # a wrong key is asked for again
        _alert(browser).accept()
        prompt = wait.until(lambda d: _alert(d))
        assert "did not work" in prompt.text
        prompt.send_keys(key)
        prompt.accept()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#themes .theme.chosen"))
        stroke(browser, browser.find_element(By.ID, "pad"), [(-100, -100), (100, -100), (100, 100), (-100, 100),
                                                              (-100, -100)])
        browser.find_element(By.ID, "make").click()
        wait.until(picture_src)                                     # no second question: the tab kept the key
        assert browser.execute_script("return sessionStorage.getItem('icanvas-key')") == key
    log = (tmp_path / "server.log").read_text()
    assert log.count('"GET /v1/themes HTTP/1.1" 401') == 2 and log.count('"POST /v1/generate?theme=demo HTTP/1.1" 200') == 1


def test_docs_render_without_a_network(tmp_path, browser):
    """Swagger UI from the package's own files: every resource the page loads comes from the service."""
    install_tiny_model(tmp_path, "demo", size=64)
    with LiveServer(tmp_path, tmp_path / "server.log") as server:
        browser.get(server.url + "/docs")
        paths = WebDriverWait(browser, 30).until(
            lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")] or None)
        loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert "/v1/generate" in paths and "/metrics" in paths
    assert loaded and all(url.startswith(server.url) for url in loaded)


def _alert(driver):
    try:
        return driver.switch_to.alert
    except Exception:  # noqa: BLE001  selenium's NoAlertPresentException: not yet
        return None


# ---- the crayon box ------------------------------------------------------------------------------------------

# the page's crayons, exactly: the server reads these colours as colour hints
CRAYONS = {"Red": "#e53935", "Orange": "#fb8c00", "Yellow": "#fdd835", "Green": "#43a047", "Blue": "#1e88e5",
           "Light blue": "#4fc3f7", "Navy": "#1a237e", "Purple": "#8e24aa", "Pink": "#ec407a", "Brown": "#a0522d",
           "Skin": "#f5b183"}
WHITE = (255, 255, 255)

# keeps every drawing the page posts (its lines and its crayon layer, as Blobs) before it goes to the server,
# the variation it asks for, and the X-Colours header of each answer
CAPTURE_POSTS = """
window.postedSketches = [];
window.postedCrayons = [];
window.postedVariations = [];
window.answeredColours = [];
const send = window.fetch;
window.fetch = async (url, init) => {
  const posting = init && init.body instanceof FormData;
  if (posting) {
    window.postedSketches.push(init.body.get("sketch"));
    window.postedCrayons.push(init.body.get("crayons"));
    window.postedVariations.push(init.body.get("variation"));
  }
  const answer = await send(url, init);
  if (posting) window.answeredColours.push(answer.headers.get("X-Colours"));
  return answer;
};"""


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def data_url_rgba(url: str) -> np.ndarray:
    """A PNG data URL as HxWx4 uint8."""
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert img.format == "PNG"
    return np.asarray(img.convert("RGBA"))


def data_url_image(url: str) -> np.ndarray:
    """A PNG data URL as HxWx3 uint8, after checking the paper is opaque."""
    arr = data_url_rgba(url)
    assert arr[..., 3].min() == 255   # white paper, not transparent
    return arr[..., :3]


def shown(driver) -> np.ndarray:
    """What the drawing area shows (and sends)."""
    return data_url_image(driver.execute_script("return document.getElementById('pad').toDataURL('image/png');"))


def _posted_blob(driver, name: str, index: int) -> str:
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; const reader = new FileReader();"
        "reader.onload = () => done(reader.result); reader.readAsDataURL(window[arguments[0]][arguments[1]]);",
        name, index)


def posted(driver, index: int) -> np.ndarray:
    """The `index`-th drawing the page posted to /v1/generate (its `sketch`: the lines on white paper)."""
    return data_url_image(_posted_blob(driver, "postedSketches", index))


def posted_crayons(driver, index: int) -> np.ndarray:
    """The crayon layer posted beside it (`crayons`), HxWx4: colour where it is opaque, transparent elsewhere."""
    return data_url_rgba(_posted_blob(driver, "postedCrayons", index))


def on_paper(sketch: np.ndarray, crayons: np.ndarray) -> np.ndarray:
    """The two posted layers as the page shows them: the crayons on white paper, the black lines over them."""
    alpha = crayons[..., 3:].astype(np.float64) / 255
    under = crayons[..., :3] * alpha + 255 * (1 - alpha)
    return under * (sketch.astype(np.float64) / 255)   # black lines: the paper through the line's coverage


def answered_colours(driver, index: int) -> list[dict] | None:
    """The `index`-th answer's X-Colours, parsed (None without the header)."""
    header = driver.execute_script("return window.answeredColours[arguments[0]];", index)
    return None if header is None else json.loads(header)


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


def test_crayon_box_holds_the_pen_and_eleven_labelled_crayons(browser, served):
    open_page(browser, served)
    swatches = browser.find_elements(By.CSS_SELECTOR, "#crayons .swatch")
    assert len(swatches) == 12 and all(s.is_displayed() for s in swatches)
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

    # sent apart: the lines on white paper, and the crayon layer alone
    lines, crayons = posted(browser, 0), posted_crayons(browser, 0)
    assert lines.shape[:2] == crayons.shape[:2] == (pad.side, pad.side)
    assert (lines.max(axis=2) == lines.min(axis=2)).all()   # not a trace of colour among the lines
    seen = shown(browser)
    assert np.abs(on_paper(lines, crayons) - seen).max() <= 3   # what the child sees is what is sent
    assert (seen.max(axis=2).astype(int) - seen.min(axis=2) > 100).any()   # (and it is coloured)
    red, light_blue = (*rgb(CRAYONS["Red"]), 255), (*rgb(CRAYONS["Light blue"]), 255)
    for dx, dy in [(0, 0), (-70, -30), (70, 30), (-80, 0), (0, 40), (-40, 0), (40, 0)]:
        assert pad.at(crayons, dx, dy) == red     # exactly, under the black lines too
    assert pad.at(crayons, 0, 110) == pad.at(crayons, -70, 100) == pad.at(crayons, 40, 110) == light_blue
    for dx, dy in [(0, -80), (-150, 0), (0, 190)]:   # transparent around the colour, and the lines' paper white
        assert pad.at(crayons, dx, dy)[3] == 0 and pad.at(lines, dx, dy) == WHITE
    assert (crayons == red).all(axis=2).sum() > 0.7 * (180 * 80) * pad.scale ** 2   # a broad patch, not a thin line
    for dy in (0, 30, 110):   # both lines stay black across both colours, in what is sent and what is seen
        assert pad.black_near(lines, -40, dy) and pad.black_near(lines, 40, dy)
        assert pad.black_near(seen, -40, dy) and pad.black_near(seen, 40, dy)
    assert not pad.black_near(lines, 0, 0)
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


# the first test on `colouring` may train the session's hint model first (~30 s idle, minutes on a busy core)
TRAINS = pytest.mark.timeout(400)


@pytest.fixture(scope="module")
def colouring(hint_model, tmp_path_factory):
    """The service with the session's hint model, installed with its colour book (it colours line drawings), and
    the same model in this process: (server, painter)."""
    root = tmp_path_factory.mktemp("colouring")
    install_model(root, hint_model)
    painter = Painter.from_pretrained(root / "models" / "demo", device="cpu")
    assert painter.book is not None
    with LiveServer(root, root / "server.log") as server:
        yield server, painter


OVAL = [(-150, 0), (-100, -90), (0, -110), (100, -90), (150, 0), (100, 90), (0, 110), (-100, 90), (-150, 0)]


def the_picture(driver) -> np.ndarray:
    """The picture the page shows, HxWx3 uint8."""
    return data_url_image(driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('result').src).then(r => r.blob()).then(b => {"
        "const reader = new FileReader(); reader.onload = () => done(reader.result); reader.readAsDataURL(b);"
        "});"))


def make_picture(driver, count: int) -> None:
    """Wait until the page has had its `count`-th answer (CAPTURE_POSTS counts them) and is done with it: the
    picture shown, the dots drawn, "Make it!" ready again."""
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return window.answeredColours.length;") >= count)
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "make").is_enabled())
    assert driver.find_element(By.ID, "message").text == "Ta-da!" and picture_src(driver)


@TRAINS
def test_the_picture_follows_the_crayon(browser, colouring):
    """End to end with a model trained with colour hints: lines and a crayon patch drawn on the page, the picture
    the server sends back has the crayon's hue where the patch lies."""
    server, painter = colouring
    for name in ("Blue", "Red"):
        pad = open_page(browser, server)
        browser.execute_script(CAPTURE_POSTS)
        click(browser, "Black pen")
        stroke(browser, pad.canvas, OVAL)
        click(browser, f"{name} crayon")
        pad.patch(-40, 40, -70, 70)
        browser.find_element(By.ID, "make").click()
        WebDriverWait(browser, 30).until(picture_src)
        picture = the_picture(browser)
        # where the server saw the crayon, at model size
        read = painter.read(posted(browser, 0), NormalizeOptions(), posted_crayons(browser, 0))
        mask = read.hints[:, :, 3] > 127
        assert mask.sum() > 50
        under = np.asarray(Image.fromarray(picture).resize(mask.shape[::-1]))[mask].mean(axis=0)
        want = rgb(CRAYONS[name])
        assert hue_gap(hue_degrees(under), hue_degrees(want)) < 30, f"{name}: {under.round()} under {want}"


@TRAINS
def test_dark_crayons_reach_the_server_as_colour(browser, colouring):
    """Navy and brown, which a flattened drawing could take for ink, are colour on the crayon layer: the server
    reads them as crayon (hints), not as lines, and the picture takes navy's hue where it lies."""
    server, painter = colouring
    pad = open_page(browser, server)
    browser.execute_script(CAPTURE_POSTS)
    stroke(browser, pad.canvas, OVAL)
    pad.line(0, -120, 0, 120)                     # two halves
    click(browser, "Brown crayon")
    pad.patch(-40, 40, -120, -40)
    click(browser, "Navy crayon")
    pad.patch(-40, 40, 40, 120)
    browser.find_element(By.ID, "make").click()
    make_picture(browser, 1)

    lines, crayons = posted(browser, 0), posted_crayons(browser, 0)
    assert (lines.max(axis=2) == lines.min(axis=2)).all()
    read = painter.read(lines, NormalizeOptions(), crayons)   # what the server read from the same two uploads
    assert read.hints is not None
    where = {}
    for name in ("Brown", "Navy"):
        want = np.array(rgb(CRAYONS[name]))
        found = (read.hints[..., 3] > 127) & (np.abs(read.hints[..., :3].astype(int) - want).max(axis=2) <= 8)
        assert found.sum() > 40, f"{name}: {found.sum()} pixels of crayon read"
        where[name] = np.argwhere(found)[:, 1].mean()
        assert not (read.lines[found] < 128).mean() > 0.1   # colour, not ink: few line pixels where it lies
    assert where["Brown"] < read.lines.shape[1] / 2 < where["Navy"]   # each where it was drawn
    picture = np.asarray(Image.fromarray(the_picture(browser)).resize(read.lines.shape[::-1]))
    navy = (read.hints[..., 3] > 127) & (read.hints[..., 2] > read.hints[..., 0] + 40)
    under = picture[navy].mean(axis=0)
    assert hue_gap(hue_degrees(under), hue_degrees(rgb(CRAYONS["Navy"]))) < 30, f"navy: {under.round()}"


def marks_on(pad: Pad, marks: list[dict]) -> list[tuple[float, float]]:
    """The marks' centres as offsets from the pad's centre, in CSS pixels (as Pad draws)."""
    return [((m["x"] - pad.side / 2) / pad.scale, (m["y"] - pad.side / 2) / pad.scale) for m in marks]


def middle_mark(pad: Pad, marks: list[dict]) -> tuple[dict, tuple[float, float]]:
    """The mark nearest the pad's centre, and its offset."""
    return min(zip(marks, marks_on(pad, marks)), key=lambda mo: abs(mo[1][0]) + abs(mo[1][1]))


def suggested(driver) -> np.ndarray:
    """The overlay of suggested colours, HxWx4."""
    return data_url_rgba(driver.execute_script(
        "return document.getElementById('suggested').toDataURL('image/png');"))


@TRAINS
def test_chosen_colours_show_as_dots_the_child_can_keep(browser, colouring):
    """A line drawing on a model that colours: the answer's X-Colours become faint dots over the drawing; "Keep
    colours" turns them into crayon, which undo and clear take back; "New colours" asks for another colouring."""
    server, painter = colouring
    pad = open_page(browser, server)
    browser.execute_script(CAPTURE_POSTS)
    again, keep, make = (browser.find_element(By.ID, i) for i in ("again", "keep", "make"))
    assert "New colours" in again.text and again.get_attribute("aria-label") == "New colours"
    assert not keep.is_displayed()
    stroke(browser, pad.canvas, OVAL)
    make.click()
    make_picture(browser, 1)
    assert browser.execute_script("return window.postedVariations[0];") is None

    marks = answered_colours(browser, 0)
    assert marks and all(set(m) == {"x", "y", "r", "colour"} for m in marks)
    assert all(0 <= m["x"] < pad.side and 0 <= m["y"] < pad.side and m["r"] >= 1 for m in marks)
    # the oval's inside is one blank part, its deepest point the middle: the frame maps back onto the page
    middle, (dx, dy) = middle_mark(pad, marks)
    assert abs(dx) + abs(dy) < 50, marks_on(pad, marks)
    assert any((dx / 150) ** 2 + (dy / 110) ** 2 > 1.2 for dx, dy in marks_on(pad, marks))   # and the paper around

    # faint dots over the drawing, which itself is still black on white
    overlay = suggested(browser)
    for m in marks:
        assert 60 < overlay[m["y"], m["x"], 3] < 200
        assert np.abs(overlay[m["y"], m["x"], :3].astype(int) - rgb(m["colour"])).max() <= 8
    before = shown(browser)
    assert (before.max(axis=2) == before.min(axis=2)).all()
    assert keep.is_displayed() and keep.get_attribute("aria-label") == "Keep these colours"
    assert keep.size["height"] >= 64 and keep.size["width"] >= 64

    keep.click()   # the dots become crayon on the drawing
    assert not keep.is_displayed() and suggested(browser)[..., 3].max() == 0
    middle, (dx, dy) = middle_mark(pad, marks)
    assert pad.at(shown(browser), dx, dy) == rgb(middle["colour"])
    make.click()   # ...and go to the server as crayon
    make_picture(browser, 2)
    crayons = posted_crayons(browser, 1)
    for m in marks:
        assert tuple(crayons[m["y"], m["x"]]) == (*rgb(m["colour"]), 255)
    assert len(answered_colours(browser, 1)) < len(marks)   # the parts it coloured are the child's now

    browser.find_element(By.ID, "undo").click()   # one undo takes them all back
    image = shown(browser)
    assert (image.max(axis=2) == image.min(axis=2)).all() and pad.at(image, dx, dy) == WHITE
    assert (image < 128).sum() > 0.9 * (before < 128).sum()   # the lines stay

    variations = []
    for n in (3, 4):   # new colours: another colouring each time, and its dots
        again.click()
        make_picture(browser, n)
        variations.append(browser.execute_script("return window.postedVariations[arguments[0]];", n - 1))
        assert answered_colours(browser, n - 1) and keep.is_displayed() and suggested(browser)[..., 3].max() > 0
    assert all(v is not None and v.isdigit() for v in variations) and variations[0] != variations[1]

    keep.click()
    middle, (dx, dy) = middle_mark(pad, answered_colours(browser, 3))
    assert pad.at(shown(browser), dx, dy) == rgb(middle["colour"])
    browser.find_element(By.ID, "clear").click()   # clear takes kept colours, lines and dots alike
    assert (shown(browser) == 255).all() and suggested(browser)[..., 3].max() == 0 and not keep.is_displayed()
