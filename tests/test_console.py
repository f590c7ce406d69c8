"""The console's data and pages without a browser: tags and list filters on every
journal (migration 6), the API's filters, and the pages' content on real journals.
The browser tests are in test_console_browser.py."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from litestar.testing import TestClient

from tests.conftest import ALL_JOURNALS, DURABLE_JOURNALS, ROOT, example
from tests.processes import wait_until
from wio import Workflow
from wio.journal import (
    InstanceFilter,
    InstanceRecord,
    InstanceStatus,
    Journal,
    NewEvent,
    StatusUpdate,
    open_journal,
)
from wio.runtime import Runtime
from wio.server.app import create_app

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
Open = Callable[[], Journal]


def registered(journal: Journal, instance_id: str, minute: int, **changes: Any) -> None:
    moment = T0 + minute * MINUTE
    journal.create_instance(
        InstanceRecord(
            instance_id, "claims", 1, InstanceStatus.WAITING, {}, moment, moment, **changes
        )
    )


def tagged(journal: Journal, instance_id: str, minute: int, **tags: str) -> None:
    update = StatusUpdate(InstanceStatus.WAITING, tags=tuple(sorted(tags.items())))
    journal.update_instance(instance_id, update, T0 + minute * MINUTE)


def ids(records: list[InstanceRecord]) -> list[str]:
    return [r.id for r in records]


@ALL_JOURNALS
def test_tags_are_stored_replaced_and_searched(open_fresh: Open) -> None:
    journal = open_fresh()
    for n, (name, team) in enumerate([("ada", "ops"), ("bob", "dev"), ("cy", "ops")]):
        registered(journal, f"c-{n}", n)
        tagged(journal, f"c-{n}", 10 + n, employee=name, team=team)
    registered(journal, "untagged", 3)
    ops = InstanceFilter(tags=(("team", "ops"),))
    assert ids(journal.list_instances(matching=ops)) == ["c-0", "c-2"]
    both = InstanceFilter(tags=(("team", "ops"), ("employee", "cy")))
    assert ids(journal.list_instances(matching=both)) == ["c-2"]
    assert journal.tags_of(["c-1", "untagged", "nope"]) == {
        "c-1": {"employee": "bob", "team": "dev"},
        "untagged": {},
        "nope": {},
    }
    tagged(journal, "c-0", 20, employee="ada", team="dev")  # replaces every tag
    assert ids(journal.list_instances(matching=ops)) == ["c-2"]
    # An update without tags leaves them as they are.
    journal.update_instance("c-2", StatusUpdate(InstanceStatus.FINISHED), T0 + 30 * MINUTE)
    assert journal.tags_of(["c-2"])["c-2"] == {"employee": "cy", "team": "ops"}
    journal.append("c-1", 0, [NewEvent("E", 1, {})], T0, StatusUpdate(InstanceStatus.RUNNING))
    assert journal.tags_of(["c-1"])["c-1"] == {"employee": "bob", "team": "dev"}
    # Pruning an instance takes its tags with it.
    assert journal.prune(T0 + 60 * MINUTE, [InstanceStatus.FINISHED]) == 1
    assert journal.tags_of(["c-2"])["c-2"] == {}
    assert ids(journal.list_instances(matching=ops)) == []


@ALL_JOURNALS
def test_list_filters_by_id_prefix_and_times(open_fresh: Open) -> None:
    journal = open_fresh()
    for n, name in enumerate(["a_1", "a%2", "ab3", "b_4", "a_"]):
        registered(journal, name, n)
    journal.update_instance("ab3", StatusUpdate(InstanceStatus.RUNNING), T0 + 30 * MINUTE)

    def listed(**where: Any) -> list[str]:
        return ids(journal.list_instances(matching=InstanceFilter(**where)))

    # The prefix is literal: neither _ nor % is a wildcard.
    assert listed(id_prefix="a_") == ["a_1", "a_"]
    assert listed(id_prefix="a%") == ["a%2"]
    assert listed(id_prefix="a") == ["a_1", "a%2", "ab3", "a_"]
    assert listed(id_prefix="zz") == []
    assert listed(created_from=T0 + MINUTE, created_to=T0 + 3 * MINUTE) == ["a%2", "ab3", "b_4"]
    assert listed(updated_from=T0 + 10 * MINUTE) == ["ab3"]
    assert listed(updated_to=T0 + 10 * MINUTE) == ["a_1", "a%2", "b_4", "a_"]
    # Filters combine with status and paging.
    page = journal.list_instances(
        InstanceStatus.WAITING, after="a_1", limit=2, matching=InstanceFilter(id_prefix="a")
    )
    assert ids(page) == ["a%2", "a_"]


@DURABLE_JOURNALS
def test_migration_6_applies_whether_or_not_5_is_there(
    journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tags are migration 6; 5 (the lease epoch) lands separately. The runner applies
    each missing migration by its number, so either order of landing works: a journal
    that got 6 before 5 existed gets 5 alone once it does."""
    from wio.journal import postgres, sqlite

    module: Any = sqlite if journal_url.startswith("sqlite") else postgres
    full = list(module.MIGRATIONS)
    assert 6 in [version for version, _ in full]
    harmless = (5, "SELECT 1" if module is sqlite else ["SELECT 1"])
    five = next((m for m in full if m[0] == 5), harmless)  # the real one, once it landed
    without_five = [m for m in full if m[0] != 5]
    monkeypatch.setattr(module, "MIGRATIONS", [m for m in full if m[0] <= 4])
    with open_journal(journal_url):
        pass
    monkeypatch.setattr(module, "MIGRATIONS", without_five)
    with open_journal(journal_url, upgrade=False) as journal:
        assert journal.upgrade() == [v for v, _ in without_five if v >= 6]
        registered(journal, "old", 0)
    monkeypatch.setattr(module, "MIGRATIONS", sorted([*without_five, five]))
    with open_journal(journal_url, upgrade=False) as journal:
        assert journal.upgrade() == [5]
        assert journal.upgrade() == []
        tagged(journal, "old", 1, team="ops")
        assert journal.tags_of(["old"])["old"] == {"team": "ops"}


@DURABLE_JOURNALS
def test_the_runtime_keeps_a_workflows_tags_in_the_registry(
    open_fresh: Open, caplog: pytest.LogCaptureFixture
) -> None:
    expenses = example("expenses")
    journal = open_fresh()
    runtime = Runtime(expenses.workflow, journal=journal)
    claim = runtime.create("c-1", expenses.Claim("c-1", "ada", "ops", 1200))
    assert journal.tags_of(["c-1"])["c-1"] == {"employee": "ada", "team": "ops"}
    claim.advance()
    claim.signal(expenses.approve, {"approver": "bob", "approved_cents": 1200})
    assert claim.status == InstanceStatus.FINISHED
    assert journal.tags_of(["c-1"])["c-1"] == {"employee": "ada", "team": "ops"}

    # A tags function that fails is logged; the instance runs on, its tags unchanged.
    def broken(state: Any) -> dict[str, str]:
        raise KeyError("no such field")

    shaky = attrs.evolve(expenses.workflow, tags=broken)
    caplog.set_level(logging.WARNING, "wio.runtime")
    other = Runtime(shaky, journal=journal).create("c-2", expenses.Claim("c-2", "cy", "dev", 5))
    assert other.advance() == InstanceStatus.WAITING
    assert journal.tags_of(["c-2"])["c-2"] == {}
    assert "instance 'c-2': tags not updated: workflow 'expenses': its tags function failed" in (
        caplog.text
    )


@DURABLE_JOURNALS
def test_an_instance_that_gave_up_is_marked_failed_at_its_step_after_a_reload(
    open_fresh: Open,
) -> None:
    """Regression: the registry keeps only the error's text, so a reloaded instance
    marked the whole workflow failed (path ()), not the step it gave up at."""
    expenses = example("expenses")
    journal = open_fresh()
    runtime = Runtime(expenses.workflow, journal=journal)
    claim = runtime.create("c-1", expenses.Claim("c-1", "ada", "ops", 1200))
    claim.advance()
    expenses.payments_down = True
    try:
        claim.signal(expenses.approve, {"approver": "bob", "approved_cents": 1200})
        while claim.status != InstanceStatus.FAILED:
            claim = Runtime(expenses.workflow, journal=journal).get("c-1")
            claim.advance()
    finally:
        expenses.payments_down = False
    reloaded = Runtime(expenses.workflow, journal=journal).get("c-1")
    assert reloaded.failed_at == ((3,),)  # Pay


# -- the API's filters and the pages -------------------------------------------------------


def seeded(journal: Journal) -> Any:
    from wio.console.demo import example as demo_example
    from wio.console.demo import seed

    module = demo_example()
    seed(journal, module)
    return module


@DURABLE_JOURNALS
def test_the_api_lists_by_tag_and_id_prefix_and_shows_tags(open_fresh: Open) -> None:
    journal = open_fresh()
    module = seeded(journal)
    with TestClient(create_app(journal, [module.workflow])) as http:
        page = http.get("/instances", params={"tag": "team=platform"}).json()
        assert [i["id"] for i in page["instances"]] == ["claim-1001", "claim-1003", "claim-1006"]
        assert page["instances"][0]["tags"] == {"employee": "ada", "team": "platform"}
        both = http.get("/instances", params=[("tag", "team=platform"), ("tag", "employee=linus")])
        assert [i["id"] for i in both.json()["instances"]] == ["claim-1003"]
        prefixed = http.get("/instances", params={"id_prefix": "claim-100", "status": "failed"})
        assert [i["id"] for i in prefixed.json()["instances"]] == ["claim-1005"]
        later = http.get("/instances", params={"created_from": "2999-01-01T00:00:00"})
        assert later.json()["instances"] == []
        malformed = http.get("/instances", params={"tag": "team"})
        assert malformed.status_code == 400
        assert "tag: expected name=value, got 'team'" in malformed.json()["detail"]
        assert http.get("/instances/claim-1002").json()["tags"]["employee"] == "grace"


@DURABLE_JOURNALS
def test_pages_show_instances_with_their_journal_and_state(open_fresh: Open) -> None:
    journal = open_fresh()
    module = seeded(journal)
    with TestClient(create_app(journal, [module.workflow])) as http:
        listed = http.get("/", params={"status": "waiting", "tag": "team=research"})
        assert listed.status_code == 200
        assert "claim-1002" in listed.text and "claim-1001" not in listed.text
        # The counts by status are of what the rest of the filter matches (the tag).
        assert "waiting <strong>1</strong>" in listed.text
        assert (
            "failed <strong>1</strong>" in listed.text and "all <strong>2</strong>" in listed.text
        )
        bad = http.get("/", params={"created_from": "yesterday"})
        assert bad.status_code == 400
        assert "created_from: expected a date and time" in bad.text

        failed = http.get("/console/instance", params={"id": "claim-1005"})
        assert failed.status_code == 200
        assert "ConnectionError: the payment service does not answer" in failed.text
        assert '<g id="node' in failed.text and 'class="node failed"' in failed.text
        live = http.get("/console/instance/live", params={"id": "claim-1002"}).json()
        assert live["status"] == "waiting" and live["signal_names"] == ["Approve"]
        assert 'name="approved_cents" data-type="integer"' in live["signals"]
        # Asked again with the stamp the page shows: unchanged, nothing rendered.
        again = {"id": "claim-1002", "stamp": live["stamp"]}
        assert http.get("/console/instance/live", params=again).json() == {
            "stamp": live["stamp"],
            "unchanged": True,
        }
        assert http.get("/console/instance", params={"id": "nope"}).status_code == 404
        assert http.get("/console/static/../app.py").status_code == 404


def counts_shown(page: str) -> dict[str, tuple[int, str]]:
    """The count and the link of each chip of the list's counts by status."""
    import re
    from html import unescape

    chips = re.findall(r'href="([^"]*)" data-status="(\w*)">\w+ <strong>(\d+)</strong>', page)
    return {status or "all": (int(n), unescape(href)) for href, status, n in chips}


@DURABLE_JOURNALS
def test_the_counts_by_status_follow_the_filter_but_the_status(open_fresh: Open) -> None:
    journal = open_fresh()
    module = seeded(journal)
    with TestClient(create_app(journal, [module.workflow])) as http:
        everything = counts_shown(http.get("/").text)
        assert {s: n for s, (n, _) in everything.items()} == {
            "all": 6, "running": 0, "waiting": 3, "finished": 1, "failed": 1, "cancelled": 1,
        }  # fmt: skip
        platform = {"tag": "team=platform", "workflow": "expenses", "status": "waiting"}
        shown = counts_shown(http.get("/", params=platform).text)
        assert {s: n for s, (n, _) in shown.items()} == {
            "all": 3, "running": 0, "waiting": 1, "finished": 1, "failed": 0, "cancelled": 1,
        }  # fmt: skip
        # Each chip keeps the rest of the filter, and lists as many as it says.
        assert shown["cancelled"][1] == "/?workflow=expenses&status=cancelled&tag=team%3Dplatform"
        assert shown["all"][1] == "/?workflow=expenses&tag=team%3Dplatform"
        for status, (count, href) in shown.items():
            listed = http.get(href).text
            assert listed.count('<tr><td><a href="/console/instance') == count, status
        prefixed = counts_shown(
            http.get("/", params={"id_prefix": "claim-100", "version": "1"}).text
        )
        assert prefixed["all"][0] == 6
        assert counts_shown(http.get("/", params={"version": "2"}).text)["all"][0] == 0
        later = {"updated_from": "2999-01-01T00:00"}
        assert counts_shown(http.get("/", params=later).text)["all"][0] == 0
        wrong = http.get("/", params={"version": "two"})
        assert wrong.status_code == 400 and "<strong>" not in wrong.text.split("</nav>")[1]


@DURABLE_JOURNALS
def test_an_undecodable_event_is_shown_raw_with_its_error(open_fresh: Open) -> None:
    journal = open_fresh()
    module = seeded(journal)
    journal.append(
        "claim-1001", 1, [NewEvent("Approved", 1, {"approver": 5}, node="/2")], T0
    )  # a payload the code cannot read
    with TestClient(create_app(journal, [module.workflow])) as http:
        page = http.get("/console/instance", params={"id": "claim-1001"})
        assert page.status_code == 200
        assert "<pre class=raw>{&quot;approver&quot;: 5}</pre>" in page.text
        assert "cannot decode:" in page.text
        assert "Traceback" not in page.text


@DURABLE_JOURNALS
def test_values_are_escaped(open_fresh: Open) -> None:
    expenses = example("expenses")
    journal = open_fresh()
    hostile = "<script>alert(1)</script>"
    Runtime(expenses.workflow, journal=journal).create(
        hostile, expenses.Claim(hostile, hostile, "x", 1)
    )
    with TestClient(create_app(journal, [expenses.workflow])) as http:
        for page in (http.get("/"), http.get("/console/instance", params={"id": hostile})):
            assert page.status_code == 200
            assert hostile not in page.text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
            assert "default-src 'self'" in page.headers["content-security-policy"]


@DURABLE_JOURNALS
def test_workflows_page_has_lint_compat_and_downloads(open_fresh: Open) -> None:
    v1, v2 = example("evolution_v1").shipping, example("evolution_v2").shipping
    journal = open_fresh()
    with TestClient(create_app(journal, [v1, v2])) as http:
        page = http.get("/console/workflows")
        assert page.status_code == 200
        assert page.text.count("<svg") == 2
        assert "Compat v1 → v2" in page.text and "compat v1 -&gt; v2" in page.text
        assert "Lint: no problems." in page.text
        bpmn = http.get("/console/workflows/shipping/2/diagram.bpmn")
        assert bpmn.status_code == 200
        assert "attachment" in bpmn.headers["content-disposition"]
        assert "zeebe:taskDefinition" in bpmn.text  # Camunda 8's dialect, for its Modeler
        model = http.get("/console/workflows/shipping/1/model.json")
        assert model.json()["_type"] == "Sequence"
        assert http.get("/console/workflows/shipping/9/model.json").status_code == 404


@DURABLE_JOURNALS
def test_with_a_token_pages_ask_to_sign_in_and_the_cookie_opens_the_api(open_fresh: Open) -> None:
    journal = open_fresh()
    module = seeded(journal)
    with TestClient(create_app(journal, [module.workflow], token="s3cret")) as http:
        page = http.get("/", follow_redirects=False)
        assert page.status_code in (302, 303, 307)
        assert page.headers["location"] == "/console/sign-in?next=%2F"
        assert http.get("/console/static/console.css").status_code == 200  # public
        assert http.get("/instances").status_code == 401
        wrong = http.post("/console/sign-in", data={"token": "nope", "next": "/"})
        assert wrong.status_code == 401 and "not the server" in wrong.text
        signed = http.post(
            "/console/sign-in", data={"token": "s3cret", "next": "//evil.example"},
            follow_redirects=False,
        )  # fmt: skip
        assert signed.headers["location"] == "/"  # never off this server
        sideways = http.post(
            "/console/sign-in", data={"token": "s3cret", "next": "/\\evil.example"},
            follow_redirects=False,
        )  # fmt: skip
        assert sideways.headers["location"] == "/"
        cookie = signed.headers["set-cookie"]
        assert (
            "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "s3cret" not in cookie
        )
        assert http.get("/").status_code == 200
        assert http.get("/instances").status_code == 200  # the API, with the cookie
        assert http.get("/instances", headers={"authorization": "Bearer s3cret"}).status_code == 200


def test_a_workflow_without_tags_writes_none(tmp_path: Any) -> None:
    order = example("order")
    with open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        workflow = Workflow(order.order_workflow, name="order")
        runtime = Runtime(workflow, journal=journal)
        runtime.create("o-1", order.Order("o-1", "a@example.com", 100, ("x",))).advance()
        assert journal.tags_of(["o-1"]) == {"o-1": {}}


def test_every_console_screen_the_docs_show_is_committed() -> None:
    import re

    from tests.conftest import ROOT

    page = (ROOT / "docs" / "console.md").read_text()
    shown = set(re.findall(r"\]\(pictures/console/([^)]+\.png)\)", page))
    committed = {p.name for p in (ROOT / "docs" / "pictures" / "console").glob("*.png")}
    assert shown == committed  # docs/make_console_screens.py saves exactly these
    browser_tests = (ROOT / "tests" / "test_console_browser.py").read_text()
    saved = {f"{name}.png" for name in re.findall(r'screen\(page, "([\w-]+)"', browser_tests)}
    assert saved == committed


@DURABLE_JOURNALS
def test_a_long_journal_shows_its_latest_events(open_fresh: Open) -> None:
    from wio.console.pages import TIMELINE_SIZE

    journal = open_fresh()
    module = seeded(journal)
    extra = [NewEvent("PolicyChecked", 1, {"within_policy": True})] * (TIMELINE_SIZE + 99)
    journal.append("claim-1003", 3, extra, T0)  # a journal longer than a page shows
    total = 3 + len(extra)
    with TestClient(create_app(journal, [module.workflow])) as http:
        page = http.get("/console/instance", params={"id": "claim-1003"}).text
        assert f"The latest {TIMELINE_SIZE} of {total} events" in page
        assert page.count("<tr data-seq=") == TIMELINE_SIZE
        assert f'<tr data-seq="{total}">' in page and '<tr data-seq="1">' not in page


# -- live pages: Server-Sent Events ------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sse_events(stream: Any) -> Iterator[tuple[str, Any]]:
    """(event, data) of each event a stream sends; comments and retry lines are skipped."""
    name, data = "message", []
    for raw in stream:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))


def opened(url: str, **headers: str) -> Any:
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as refused:
        return refused


def answers(url: str) -> bool:
    try:
        return bool(opened(url).status == 200)
    except OSError:
        return False


@DURABLE_JOURNALS
def test_a_live_page_is_sent_its_instance_as_another_process_advances_it(
    journal_url: str,
) -> None:
    """`wio serve --token` streams an instance page's parts when the instance changes,
    to the console's session cookie only, and stops at once with the stream open."""
    from wio.console.auth import COOKIE, session_value
    from wio.console.pages import stamp_of

    token = "live-s3cret"
    with open_journal(journal_url) as journal:
        module = seeded(journal)
        shown = stamp_of(journal.get_instance("claim-1002"))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "wio.cli", "serve", "--journal", journal_url, "--port", str(port),
         "--workflows", "docs/examples/expenses.py:workflow"],
        cwd=ROOT, env={**os.environ, "WIO_API_TOKEN": token},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/console/instance/stream?id=claim-1002&stamp={shown}"
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/health"), "wio serve to answer")
        assert opened(url).status == 401  # the stream is the console's: signed in only
        with opened(url, Cookie=f"{COOKIE}={session_value(token)}") as stream:
            assert stream.status == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = sse_events(stream)
            with open_journal(journal_url) as journal:  # the runtime of this process
                approved = {"approver": "joan", "approved_cents": 48_000}
                Runtime(module.workflow, journal=journal).get("claim-1002").signal(
                    module.approve, approved
                )
            # Each change seen is sent (the signal's step may be seen before the payment's).
            for name, parts in events:
                assert name == "parts", parts
                if parts["status"] == "finished":
                    break
            assert "Approved(approver=&#x27;joan&#x27;" in parts["timeline"]
            assert parts["stamp"] != shown
            server.terminate()  # with the stream open: the server ends it, and exits
            assert list(events) == []
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
        output = server.communicate()[0]
    assert token not in output and session_value(token) not in output
    assert "Traceback" not in output


def test_live_pages_are_bounded_and_refused_ones_are_told_to_poll(tmp_path: Any) -> None:
    """Past its bound a stream is refused (503: the page polls); one that ends frees its
    place; and the server stops with a stream open."""
    import threading

    from wio.console.live import uvicorn_server

    with open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        module = seeded(journal)
        app = create_app(journal, [module.workflow], console_streams=1)
        port = free_port()
        server = uvicorn_server(app, host="127.0.0.1", port=port, log_config=None)
        thread = threading.Thread(target=server.run)
        thread.start()
        base = f"http://127.0.0.1:{port}/console/instance/stream"
        try:
            wait_until(lambda: server.started, "the server to start")
            first = opened(f"{base}?id=claim-1001")
            assert first.status == 200
            assert next(sse_events(first))[0] == "parts"  # no stamp given: sent at once
            refused = opened(f"{base}?id=claim-1002")
            assert refused.status == 503
            assert "this one polls" in json.loads(refused.read())["detail"]
            first.close()
            again = wait_until(
                lambda: (s := opened(f"{base}?id=claim-1003")).status == 200 and s,
                "the closed stream's place to be free",
            )
            assert opened(f"{base}?id=claim-1002").status == 503  # the only place is taken
            again_events = sse_events(again)
            assert next(again_events)[0] == "parts"
            # An instance pruned while its page is open: the page is told, the stream ends.
            assert journal.prune(datetime.now(UTC) + MINUTE, [InstanceStatus.FINISHED]) == 1
            name, data = next(again_events)
            assert name == "gone" and "claim-1003" in data["detail"]
            assert list(again_events) == []
            last = wait_until(
                lambda: (s := opened(f"{base}?id=claim-1002")).status == 200 and s,
                "the ended stream's place to be free",
            )
            last_events = sse_events(last)
            assert next(last_events)[0] == "parts"
        finally:
            server.should_exit = True
            thread.join(timeout=60)
        assert not thread.is_alive()  # it ended the open stream to stop
        assert list(last_events) == []


def test_an_application_serves_live_pages_again_after_a_restart(tmp_path: Any) -> None:
    """Started, stopped and started again (as the benchmarks' and tests' clients do), the
    application opens streams again, on the new event loop."""
    with open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        module = seeded(journal)
        app = create_app(journal, [module.workflow])
        for claim_id, status in (
            ("claim-1003", InstanceStatus.FINISHED),
            ("claim-1005", InstanceStatus.FAILED),
        ):
            with TestClient(app) as http:
                page = http.get("/console/instance", params={"id": claim_id})
                stamp = page.text.split('data-stamp="')[1].split('"')[0]
                assert journal.prune(datetime.now(UTC) + MINUTE, [status]) == 1
                # An instance gone ends its stream: the whole of it can be read.
                query = {"id": claim_id, "stamp": stamp}
                with http.stream("GET", "/console/instance/stream", params=query) as stream:
                    body = "".join(stream.iter_text())
                assert "event: gone" in body and claim_id in body, body
