"""The console in real headless Chromium, on the embedded stack and the real Temporal dev server.

An operator logs in, opens the waiting incident, approves it and sees it resolved; a request
without a login is refused; a user whose rights do not cover the incident's namespace sees the
buttons disabled with the reason. At 1400×900 the decision view shows the plan, its diff and the
buttons without scrolling; it and the finished incident are saved as screenshots in the test's
tmp dir (the path is printed).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.embedded import DEFAULT_SCENARIO, Stack
from gateway.auth import hash_password, upsert_user
from policies import POLICY_DIR
from tests.conftest import wait_for_step
from tests.e2e.test_remediation_loop import post_alert
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

# The demo incident is in namespace shop: sre may approve anywhere, payments' developers only there.
APPROVER_RULES = [
    {"principals": ["group:sre"], "namespaces": ["*"], "max_risk": "high"},
    {"principals": ["group:payments-devs"], "namespaces": ["payments"], "max_risk": "high"},
]


def policy_with_rules(directory: Path) -> Path:
    shutil.copytree(POLICY_DIR, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    data_file = directory / "data.json"
    data = json.loads(data_file.read_text())
    data["medic"]["config"]["approvers"] = APPROVER_RULES
    data_file.write_text(json.dumps(data))
    return directory


def wait_until(condition: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def log_in(driver: Any, base: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/console/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    wait_until(lambda: driver.find_elements(By.ID, "principal-name"), "the console after login")
    assert driver.find_element(By.ID, "principal-name").text == username


def log_out(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "logout").click()
    wait_until(lambda: "/console/login" in driver.current_url, "the login page after logout")


# The window the decision view is checked at: a laptop's.
LAPTOP = (1400, 900)


def box(seen: dict[str, str], element: str) -> tuple[float, ...]:
    return tuple(float(v) for v in seen[element].split(","))


def save_full_page(driver: Any, path: Path) -> None:
    """A screenshot of the whole page, not only the window: the window is grown to fit it."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, min(max(height, 800), 12000))
    driver.save_screenshot(str(path))


def drive_console(driver: Any, base: str, incident_id: str, screenshots: Path) -> dict[str, str]:
    """Everything the operators do in the browser; blocking, so the test runs it off the loop."""
    from selenium.webdriver.common.by import By

    seen: dict[str, str] = {}

    # Without a login, the incident page is not shown: the browser lands on the login page.
    driver.get(f"{base}/console/incidents/{incident_id}")
    assert "/console/login" in driver.current_url
    assert not driver.find_elements(By.ID, "incident-status")

    # A payments developer may look, but not decide on a shop incident.
    log_in(driver, base, "pat", "pat-password")
    driver.get(f"{base}/console/incidents/{incident_id}")
    assert driver.find_element(By.ID, "incident-status").text == "awaiting_approval"
    assert not driver.find_element(By.ID, "approve").is_enabled()
    assert not driver.find_element(By.ID, "reject").is_enabled()
    seen["refusal"] = driver.find_element(By.ID, "decide-refusal").text
    log_out(driver)

    # An SRE finds it in the list, approves it with a reason and watches it resolve.
    log_in(driver, base, "sam", "sam-password")
    driver.get(f"{base}/console/?status=awaiting_approval")
    link = next(a for a in driver.find_elements(By.CSS_SELECTOR, "a.incident-link") if a.text == incident_id)
    link.click()
    wait_until(lambda: driver.find_elements(By.ID, "approve"), "the incident page")
    assert driver.find_element(By.ID, "approve").is_enabled()
    # At a laptop's size, what is approved stands beside the buttons without scrolling.
    driver.set_window_size(LAPTOP[0], LAPTOP[1])
    seen["height"] = str(driver.execute_script("return document.body.scrollHeight"))
    seen["viewport"] = str(driver.execute_script("return window.innerHeight"))
    seen["scrolled"] = str(driver.execute_script("return window.scrollY"))
    for element in ("plan-sentence", "decide-diff", "approve", "reject"):
        box = driver.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];",
            driver.find_element(By.ID, element),
        )
        seen[element] = ",".join(str(round(v)) for v in box)
    driver.save_screenshot(str(screenshots / "console-decision-view.png"))
    driver.find_element(By.NAME, "reason").send_keys("memory limit too low, raise it")
    driver.find_element(By.ID, "approve").click()
    result = wait_until(lambda: driver.find_elements(By.ID, "decision-result"), "the decision's answer")
    seen["decision"] = result[0].text
    seen["decision_class"] = result[0].get_attribute("class") or ""
    seen["step_after"] = driver.find_element(By.ID, "incident-status").text
    seen["url_after"] = driver.current_url

    def resolved() -> bool:
        driver.get(f"{base}/console/incidents/{incident_id}")
        return driver.find_element(By.ID, "incident-status").text == "resolved"

    wait_until(resolved, "the incident to resolve", timeout=90)
    save_full_page(driver, screenshots / "console-incident.png")
    seen["approvals"] = driver.find_element(By.ID, "approvals").text
    seen["reason_first"] = str(
        driver.execute_script(
            "return document.getElementById('incident-reason').getBoundingClientRect().top"
            " < document.getElementById('incident-summary').getBoundingClientRect().top"
        )
    )
    return seen


async def test_operator_approves_in_the_browser_and_sees_the_outcome(
    make_stack: Any, browser: Any, tmp_path: Path
) -> None:
    users = tmp_path / "users"
    upsert_user(users, "pat", hash_password("pat-password", iterations=1000), ["payments-devs"])
    upsert_user(users, "sam", hash_password("sam-password", iterations=1000), ["sre"])
    stack: Stack = await make_stack(
        DEFAULT_SCENARIO,
        policy_dir=str(policy_with_rules(tmp_path / "policy")),
        console_users_file=str(users),
    )
    workflow_id = await post_alert(stack, DEFAULT_SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await wait_for_step(handle, "awaiting_approval")

    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        assert (await anonymous.get("/api/incidents")).status_code == 401
        page = await anonymous.get(f"/console/incidents/{waiting.incident_id}")
        assert page.status_code == 303 and "/console/login" in page.headers["location"]

    seen = await asyncio.to_thread(drive_console, browser, stack.gateway_url, waiting.incident_id, tmp_path)
    decision_view = tmp_path / "console-decision-view.png"
    print(f"decision view at {LAPTOP[0]}x{LAPTOP[1]}: {decision_view} (page {seen['height']} px high)")

    assert "pat is not allowed to decide on this plan" in seen["refusal"]
    assert "group:sre" in seen["refusal"]
    # The plan, its diff and the buttons, all inside the first screen, unscrolled; the diff to
    # the left of the buttons or above them.
    viewport = float(seen["viewport"])
    assert seen["scrolled"] == "0" and viewport <= LAPTOP[1]
    diff, approve, reject = box(seen, "decide-diff"), box(seen, "approve"), box(seen, "reject")
    for element in ("plan-sentence", "decide-diff", "approve", "reject"):
        left, top, right, bottom = box(seen, element)
        assert 0 <= top < bottom <= viewport and 0 <= left < right <= LAPTOP[0], (element, seen[element])
    assert diff[2] <= approve[0] or diff[3] <= approve[1], "the diff beside or above the buttons"
    assert approve[1] == reject[1], "the buttons side by side"
    assert decision_view.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # After approving, the page is the incident's, at the step the workflow went on to.
    assert "ok" in seen["decision_class"].split() and "1/1 approvals" in seen["decision"]
    assert seen["url_after"].endswith(f"/console/incidents/{waiting.incident_id}?decided=approve")
    assert seen["step_after"] != "awaiting_approval" and seen["decision"].endswith(
        f"step: {seen['step_after']}"
    )
    assert seen["reason_first"] == "True"
    assert "sam" in seen["approvals"]
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.outcome == "resolved"
    assert [(a.approver, a.via) for a in result.approvals] == [("sam", "update")]
    screenshot = tmp_path / "console-incident.png"
    assert screenshot.stat().st_size > 10_000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
