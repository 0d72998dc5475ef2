"""Formgrader on a loopback port and a headless Chromium driving it, for tests/test_formgrader.py.

Everything is local: the system's ``chromium`` and ``chromedriver`` (Debian's ``chromium`` and
``chromium-driver``) are given to Selenium by path, so Selenium Manager never looks for or
downloads a driver, and the browser resolves no host but 127.0.0.1 (formgrader's pages ask a
CDN for MathJax; a TA's offline machine fails that request the same way).
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SKIP_REASON = ("headless Chromium and its driver are not installed (Debian: apt-get install -y "
               "chromium chromium-driver; ./setup.sh tests does it); CI installs them")
JUPYTER = Path(sys.executable).with_name("jupyter")
# Of the server extensions installed in the venv, only formgrader: no JupyterLab, terminals or
# language servers, nor nbgrader's student-side extensions (a TA's `jupyter lab` has them all).
ONLY_FORMGRADER = {"ServerApp": {"jpserver_extensions": {
    "nbgrader.server_extensions.formgrader": True, "jupyterlab": False, "notebook": False,
    "notebook_shim": False, "jupyter_lsp": False, "jupyter_server_terminals": False,
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.course_list": False,
    "nbgrader.server_extensions.validate_assignment": False}}}
START_TIMEOUT = 60  # s: a loaded 2-core CI machine imports jupyter_server and nbgrader slowly


def missing() -> bool:
    """True when the browser, its driver or Selenium is not there (the test is then skipped)."""
    import importlib.util

    return not (importlib.util.find_spec("selenium") and CHROMIUM and CHROMEDRIVER
                and JUPYTER.is_file())


def screenshot_dir() -> Path:
    """Where a person looks at the pages: $AUTOGRADER_SCREENSHOTS, else screenshots/formgrader/."""
    folder = Path(os.environ.get("AUTOGRADER_SCREENSHOTS") or REPO / "screenshots" / "formgrader")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def formgrader(course_root: Path, scratch: Path):
    """``jupyter server`` with nbgrader's formgrader over ``course_root``; yields its base URL.

    Started as a TA would (in the course root, so formgrader reads its ``nbgrader_config.py``),
    with no token on 127.0.0.1 and Jupyter's own config, data and runtime folders in ``scratch``
    (the machine's ~/.jupyter cannot change the test). Killed, with its process group, however
    the test ends.
    """
    port = free_port()
    config = scratch / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.json").write_text(json.dumps(ONLY_FORMGRADER))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config),
               JUPYTER_DATA_DIR=str(scratch / "data"), JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
               JUPYTER_PLATFORM_DIRS="1")
    log = (scratch / "formgrader.log").open("w")
    server = subprocess.Popen(
        [str(JUPYTER), "server", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
         "--ServerApp.open_browser=False", "--ServerApp.allow_root=True",
         f"--ServerApp.root_dir={course_root}"],
        cwd=course_root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(server, f"{url}/formgrader/api/assignments", scratch / "formgrader.log")
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=15)
        log.close()


def _wait_until_up(server: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"formgrader exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"formgrader did not answer {url} in {START_TIMEOUT} s:\n{log.read_text()}")


@contextlib.contextmanager
def chrome(scratch: Path, width: int = 1280, height: int = 1000):
    """A headless Chromium under Selenium, from the system's binaries only; quit however it ends."""
    os.environ["SE_OFFLINE"] = "1"  # belt and braces: Selenium Manager must never reach the network
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--hide-scrollbars", f"--window-size={width},{height}",
                 f"--user-data-dir={scratch / 'chromium-profile'}",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(scratch / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()


def wait(driver, timeout: float = 60):
    """Explicit waits, generous for a loaded 2-core CI machine; they return as soon as they can."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1)


def click(driver, target) -> None:
    """Click an element (or the element a locator finds) once it takes the click.

    Pages that fill tables by script redraw them, and formgrader moves cells while it saves;
    a click that lands on a replaced or covered element is tried again, never doubled.
    """
    from selenium.common.exceptions import (
        ElementClickInterceptedException, ElementNotInteractableException,
        NoSuchElementException, StaleElementReferenceException)
    from selenium.webdriver.support.ui import WebDriverWait

    def clicked(d):
        (d.find_element(*target) if isinstance(target, tuple) else target).click()
        return True

    WebDriverWait(driver, 60, poll_frequency=0.1, ignored_exceptions=(
        ElementClickInterceptedException, ElementNotInteractableException,
        NoSuchElementException, StaleElementReferenceException)).until(clicked)


def full_page_screenshot(driver, path: Path) -> Path:
    """The whole page as one PNG at the window's width (Chromium's own capture beyond the viewport)."""
    width, height = driver.execute_script(
        "const e = document.documentElement;"
        "return [e.clientWidth, Math.max(document.body.scrollHeight, e.scrollHeight)];")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
