"""The studio in a real browser (Debian's Chromium through chromedriver): paint a brush stroke and
a flood fill with real mouse events, save with the keyboard, and find those class pixels in the PNG
on disk, which train-interpreter's reader accepts. A screenshot is kept as a test artefact."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasetgan.annotate.server import create_app
from datasetgan.annotate.studio import Studio
from datasetgan.interpreter import load_annotations
from tests.annotate.helpers import make_run

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("DATASETGAN_TEST_ARTIFACTS", "runs/test-artifacts"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    import uvicorn

    folder, _ = make_run(tmp_path_factory.mktemp("browser"), resolution=32, n=4)
    port = _free_port()
    config = uvicorn.Config(
        create_app(Studio.open(folder)), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/", folder
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (CHROMIUM and DRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver must be installed in CI (.ci/run installs them)")
        pytest.skip(
            "no chromium / chromedriver here (Debian: apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1200,800"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def _screen(driver: object, x: float, y: float) -> tuple[int, int]:
    """Viewport-relative offsets (from its centre, as Selenium 4 wants) of image pixel (x, y)."""
    zoom, pan_x, pan_y, w, h = driver.execute_script(  # type: ignore[attr-defined]
        "const v = document.getElementById('viewport');"
        "return [S.zoom, S.panX, S.panY, v.clientWidth, v.clientHeight];"
    )
    return round(pan_x + (x + 0.5) * zoom - w / 2), round(pan_y + (y + 0.5) * zoom - h / 2)


def test_paint_fill_save_in_chromium(server: tuple[str, Path], browser: object) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, folder = server
    driver = browser
    driver.get(url)  # type: ignore[attr-defined]
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1"
    )
    viewport = driver.find_element(By.ID, "viewport")  # type: ignore[attr-defined]
    body = driver.find_element(By.TAG_NAME, "body")  # type: ignore[attr-defined]
    sample = driver.execute_script("return S.id")  # type: ignore[attr-defined]
    # a brush stroke of class 1 ("skin", key 2) across row 8, columns 4..24
    body.send_keys("b")
    body.send_keys("2")
    chain = (
        ActionChains(driver)
        .move_to_element_with_offset(viewport, *_screen(driver, 4, 8))
        .click_and_hold()
    )
    for x in range(6, 25, 2):
        chain = chain.move_to_element_with_offset(viewport, *_screen(driver, x, 8))
    chain.release().perform()
    # a flood fill of class 2 ("hair", key 3) from pixel (16, 28): everything not painted
    driver.execute_script(  # type: ignore[attr-defined]
        "const t = document.getElementById('tolerance'); t.value = 128;"
        "t.dispatchEvent(new Event('input'));"
    )
    body.send_keys("f")
    body.send_keys("3")
    ActionChains(driver).move_to_element_with_offset(
        viewport, *_screen(driver, 16, 28)
    ).click().perform()
    body.send_keys("s")
    path = folder / "annotations" / f"{sample:08d}.png"
    WebDriverWait(driver, 20).until(lambda d: path.is_file())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "studio.png"))  # type: ignore[attr-defined]
    mask = np.asarray(Image.open(path))
    assert (mask[8, 6:23] == 1).all(), mask[6:11]  # the stroke (brush size 3 around row 8)
    assert (mask[28, :] == 2).all() and (mask == 2).sum() > 700  # the fill
    assert set(np.unique(mask).tolist()) <= {1, 2, 255}
    ann = load_annotations(folder / "annotations", shape=(32, 32))
    assert ann.ids == (sample,) and ann.class_names[1] == "skin"
    counts = driver.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('#palette .count')].map(e => Number(e.textContent))"
    )
    assert counts[1] == int((mask == 1).sum()) and counts[2] == int((mask == 2).sum())
