"""Headless Chromium (Debian's chromium + chromium-driver) driven by Selenium.

The browser is the system's: no driver or browser is downloaded at run time. Locally a machine
without it skips the browser tests; under CI (`$CI` set) a missing browser fails them, and
`.ci/run` installs it first.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import in_ci
from tests.e2e.conftest import make_stack  # noqa: F401  (the embedded stack, as the e2e tests use it)

CHROMIUM = os.environ.get("MEDIC_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MEDIC_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
# Screenshots the browser tests save, for a human to look at after the run (git-ignored).
ARTIFACTS = Path(os.environ.get("MEDIC_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() or shutil.which(path)):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def browser() -> Iterator[object]:
    missing = _missing()
    if missing is not None:
        if in_ci():
            pytest.fail(f"CI requires the browser for the console tests: {missing}", pytrace=False)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # As root in a container, without a GPU, and on a machine whose network is closed: the
    # background-networking flags stop Chromium from trying to reach Google at every start.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="medic-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        driver.set_page_load_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()
