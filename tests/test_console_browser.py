"""The web console in a real browser: Debian's Chromium driven by Playwright, against
the README's console command (`python -m wio.console.demo`) running as a process.

They click through what an operator does: filter the list, open an instance, see
where it waits on its diagram, send a signal through the generated form (a wrong
field first), retry, cancel and fork. With WIO_CONSOLE_SCREENSHOTS=DIR they save
the screens docs/console.md shows (docs/make_console_screens.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.diagram_consumers import require, require_chromium

pytestmark = pytest.mark.consumers

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENS = os.environ.get("WIO_CONSOLE_SCREENSHOTS")
TOKEN = "console-test-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read() if server.stdout else ""
            raise AssertionError(f"the console exited early: {output}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the console did not come up within 60s")


def stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """The README's console command on a fresh SQLite journal; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "wio.console.demo",
            "--journal", f"sqlite:///{tmp_path / 'demo.db'}", "--port", str(port),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server)
        yield base
    finally:
        stop(server)


@pytest.fixture
def browser() -> Iterator[Any]:
    require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("Playwright", False, "pip install -e '.[dev]'")
        raise
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    context.close()
    assert problems == [], f"the page's script failed: {problems}"


def screen(page: Any, name: str, full: bool = False, part: str | None = None) -> None:
    if SCREENS:
        Path(SCREENS).mkdir(parents=True, exist_ok=True)
        path = str(Path(SCREENS) / f"{name}.png")
        if part is not None:
            page.locator(part).screenshot(path=path)
        else:
            page.screenshot(path=path, full_page=full)


def events_of(base: str, instance_id: str) -> int:
    with urllib.request.urlopen(f"{base}/instances/{instance_id}", timeout=10) as answer:
        import json

        return int(json.load(answer)["events"])


def badge(page: Any) -> Any:
    return page.locator("#summary .badge")


def test_filter_open_and_signal_through_the_generated_form(demo: str, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{demo}/")
    expect(page.locator("table.list tbody tr")).to_have_count(6)
    screen(page, "instances")
    page.locator(".counts a[data-status=waiting]").click()
    expect(page).to_have_url(f"{demo}/?status=waiting")
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(3)
    for status in rows.locator(".badge").all_text_contents():
        assert status == "waiting"
    page.get_by_role("link", name="claim-1002").click()

    expect(page.locator("h1")).to_contain_text("claim-1002")
    waiting = page.locator("#diagram svg g.node.waiting")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("Manager Approval")
    expect(page.locator("#diagram svg g.node.executed").first).to_be_visible()
    screen(page, "instance-waiting", full=True)

    page.evaluate("window.notReloaded = true")  # gone if the page reloads
    form = page.locator("form.signal[data-signal=Approve]")
    form.get_by_label("approver").fill("joan")
    form.get_by_label("approved_cents").fill("a lot")
    form.get_by_role("button", name="Send Approve").click()
    error = form.locator("[data-error-for=approved_cents]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("int")
    expect(form.get_by_label("approved_cents")).to_have_attribute("aria-invalid", "true")
    assert events_of(demo, "claim-1002") == 1  # nothing was written
    screen(page, "signal-field-error")

    form.get_by_label("approved_cents").fill("48000")
    form.get_by_role("button", name="Send Approve").click()
    expect(badge(page)).to_have_text("finished")
    expect(page.locator("#timeline tr[data-seq]")).to_have_count(3)
    expect(page.locator("#timeline")).to_contain_text("Approved(approver='joan'")
    expect(page.locator("#diagram svg g.node.waiting")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
    screen(page, "instance-finished", full=True)


def test_retry_cancel_and_fork(demo: str, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{demo}/?status=failed")
    page.get_by_role("link", name="claim-1005").click()
    expect(badge(page)).to_have_text("failed")
    expect(page.locator("#summary .last-error")).to_contain_text("payment service does not answer")
    expect(page.locator("#diagram svg g.node.failed")).to_contain_text("Pay")
    screen(page, "instance-failed", full=True)
    page.get_by_role("button", name="Retry").click()
    # The worker in the console's process pays it: the page follows without a reload.
    expect(badge(page)).to_have_text("finished")
    expect(page.locator("#timeline")).to_contain_text("Paid(reference='PAY-claim-1005')")

    page.goto(f"{demo}/console/instance?id=claim-1004")
    # An event no node takes now is refused where it was sent, and nothing is written.
    page.locator("#deliver-type").select_option("Paid")
    page.get_by_label("Payload (JSON)").fill('{"reference": "by hand"}')
    page.get_by_role("button", name="Deliver").click()
    refused = page.locator("#deliver-form [data-form-error]")
    expect(refused).to_be_visible()
    expect(refused).to_contain_text("claim-1004")
    assert events_of(demo, "claim-1004") == 1
    page.get_by_role("button", name="Cancel").click()
    expect(badge(page)).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel")).to_be_disabled()
    expect(page.locator("#signals")).to_contain_text("None now")

    page.goto(f"{demo}/console/instance?id=claim-1001")
    page.locator("#fork-at").select_option("1")
    page.locator("#fork-id").fill("claim-1001-again")
    screen(page, "fork", part=".operations")
    page.get_by_role("button", name="Fork").click()
    expect(page).to_have_url(f"{demo}/console/instance?id=claim-1001-again")
    expect(badge(page)).to_have_text("waiting")
    expect(page.locator("#timeline tr[data-seq]")).to_have_count(1)

    page.goto(f"{demo}/?tag=team%3Dplatform")
    expect(page.locator("table.list tbody tr")).to_have_count(4)  # 1001, its fork, 1003, 1006
    page.goto(f"{demo}/console/workflows")
    expect(page.locator(".workflow svg")).to_have_count(1)
    expect(page.locator(".workflow")).to_contain_text("Lint: no problems")
    screen(page, "workflows", full=True)


def approved_elsewhere(tmp_path: Path, claim_id: str) -> None:
    """Approve a claim with the Python runtime of this process (not the console's): it
    runs on to its payment and its end, in the demo's journal."""
    from wio.console.demo import example
    from wio.journal import open_journal
    from wio.runtime import Runtime

    module = example()
    with open_journal(f"sqlite:///{tmp_path / 'demo.db'}") as journal:
        instance = Runtime(module.workflow, journal=journal).get(claim_id)
        instance.signal(module.approve, {"approver": "joan", "approved_cents": 1})


def test_an_instance_page_follows_its_instance_through_the_event_stream(
    demo: str, page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    # The list, filtered by team, follows its instances too: its counts and rows.
    listing = page.context.new_page()
    listing.goto(f"{demo}/?tag=team%3Ddesign")
    expect(listing.locator("#instances")).to_have_attribute("data-live", "stream")
    expect(listing.locator(".counts [data-status=waiting] strong")).to_have_text("1")
    expect(listing.locator(".counts [data-status=finished] strong")).to_have_text("0")

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{demo}/console/instance?id=claim-1004")
    expect(badge(page)).to_have_text("waiting")
    expect(page.locator("#instance")).to_have_attribute("data-live", "stream")
    page.evaluate("window.notReloaded = true")  # gone if the page reloads
    approved_elsewhere(tmp_path, "claim-1004")
    expect(badge(page)).to_have_text("finished")
    expect(page.locator("#timeline")).to_contain_text("Paid(reference='PAY-claim-1004')")
    expect(page.locator("#diagram svg g.node.waiting")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
    expect(listing.locator(".counts [data-status=finished] strong")).to_have_text("1")
    expect(listing.locator(".counts [data-status=waiting] strong")).to_have_text("0")
    expect(listing.locator("table.list .badge")).to_have_text(["finished"])
    listing.close()
    # It came through the one stream the page opened: the page asked nothing else.
    asked = sorted(url.removeprefix(demo).partition("?")[0] for url in requested)
    assert asked == [
        "/console/instance",
        "/console/instance/stream",
        "/console/static/console.css",
        "/console/static/console.js",
    ]

    # A server that refuses the stream (too many pages listen, say): the page polls.
    page.route("**/console/instance/stream?*", lambda route: route.fulfill(status=503))
    page.goto(f"{demo}/console/instance?id=claim-1001")
    expect(page.locator("#instance")).to_have_attribute("data-live", "polling")
    expect(page.locator("#live-note")).to_have_text("live (polling)")
    approved_elsewhere(tmp_path, "claim-1001")
    expect(badge(page)).to_have_text("finished")
    assert any("/console/instance/live?" in url for url in requested)


@pytest.fixture
def served_with_token(tmp_path: Path) -> Iterator[str]:
    """`wio serve --token` on a seeded journal."""
    url = f"sqlite:///{tmp_path / 'token.db'}"
    seeded = subprocess.run(
        [sys.executable, "-c", f"from wio.console.demo import *; seed(open_journal({url!r}), example())"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "wio.cli", "serve", "--journal", url,
            "--workflows", "docs/examples/expenses.py:workflow", "--port", str(port),
        ],
        cwd=ROOT, env={**os.environ, "WIO_API_TOKEN": TOKEN},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server)
        yield base
    finally:
        stop(server)


def test_the_console_signs_in_with_the_servers_token(served_with_token: str, page: Any) -> None:
    from playwright.sync_api import expect

    base = served_with_token
    page.goto(f"{base}/console/instance?id=claim-1006")
    expect(page).to_have_url(f"{base}/console/sign-in?next=%2Fconsole%2Finstance%3Fid%3Dclaim-1006")
    page.get_by_label("Token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_contain_text("not the server's token")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/console/instance?id=claim-1006")
    expect(badge(page)).to_have_text("cancelled")
    page.goto(f"{base}/console/instance?id=claim-1001")
    page.get_by_role("button", name="Cancel").click()  # the API, with the session cookie
    expect(badge(page)).to_have_text("cancelled")
    # The API itself still refuses a request without the token or the cookie.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/instances", timeout=10)
    assert refused.value.code == 401
