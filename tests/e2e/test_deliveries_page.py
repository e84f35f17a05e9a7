"""relay local's `/_relay` page in a real browser (headless Chromium from Debian's packages): it lists
each delivery from the feed, with its outcome and the PUT, and refreshes by itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relay.config.loader import load_config
from relay_devtools.files.secrets_file import load_secrets_file
from relay_devtools.webhooks.signing import sign
from tests.support.local import LocalProcess, post

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Headless, and nothing that reaches the network: the machine has no internet.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            f"no browser: {CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def send(local: LocalProcess, unit: str, status: str, delivery_id: str) -> None:
    config = load_config(local.config)
    source = config.sources["cad"]
    secret = load_secrets_file(local.secrets).newest(source.signature.secret)
    body = json.dumps({"units": [{"id": unit, "status": status}]}).encode()
    delivery = sign(source.signature, body, secret, delivery_id=delivery_id)
    assert post(f"{local.ingress}/cad", delivery.body, delivery.headers)[0] == 202


def row(browser: Any, webhook_id: str, outcome: str, seconds: float = 30) -> Any:
    """The page's row for a delivery once it shows `outcome` (the page refreshes itself)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    selector = f'tr[data-webhook-id="{webhook_id}"][data-outcome="{outcome}"]'
    return WebDriverWait(browser, seconds).until(
        lambda d: (d.find_elements(By.CSS_SELECTOR, selector) or [None])[0]
    )


def test_deliveries_page_shows_a_written_delivery_with_its_put(
    browser: Any, local_stack: LocalProcess
) -> None:
    # Given a delivery written through relay local
    send(local_stack, "PAGE-1", "10-8", "msg_page_1")
    # When the operator opens the page
    browser.get(f"{local_stack.base}/_relay")
    # Then its row says 202, written, and the values the PUT changed
    found = row(browser, "msg_page_1", "written")
    assert "202" in found.text
    assert 'PAGE-1: written (PUT status="10-8")' in found.text


def test_deliveries_page_refreshes_by_itself(browser: Any, local_stack: LocalProcess) -> None:
    # Given the page already open
    browser.get(f"{local_stack.base}/_relay")
    row(browser, "msg_page_1", "written")
    # When another delivery arrives, without reloading the page
    send(local_stack, "PAGE-2", "10-6", "msg_page_2")
    # Then it appears
    assert 'PAGE-2: written (PUT status="10-6")' in row(browser, "msg_page_2", "written").text
