"""The external consumers of our diagrams, run as they run for users.

- the OMG BPMN 2.0 XSD (shipped in the SpiffWorkflow wheel), with lxml and
  with xmlschema (which also catches dangling id references);
- bpmn-moddle and bpmnlint's recommended rules, bpmnlint-plugin-camunda-compat
  with Zeebe's moddle extension (Camunda 8), bpmn-js in headless Chromium (and
  a layout audit in it), Mermaid's own parser and Mermaid drawing in headless
  Chromium, from the npm packages pinned in tests/consumers;
- SpiffWorkflow parsing (with its XSD validator) and running a process.

Missing consumers skip the tests loudly, except when CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

CONSUMERS = ROOT / "tests" / "consumers"


def require(what: str, available: bool, how: str) -> None:
    if available:
        return
    message = f"{what} is not installed ({how})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true: the consumer tests must run")
    pytest.skip(f"SKIPPING DIAGRAM CONSUMER TEST: {message}")


def require_node() -> None:
    require(
        "the npm consumers",
        shutil.which("node") is not None and (CONSUMERS / "node_modules" / "bpmnlint").is_dir(),
        "cd tests/consumers && npm ci",
    )


def require_chromium() -> None:
    require("Chromium", Path("/usr/bin/chromium").exists(), "apt-get install chromium")


def node(script: str, files: list[Path], **env: str) -> list[dict[str, Any]]:
    """Run one of tests/consumers' scripts on ``files``; one JSON result per file."""
    require_node()
    done = subprocess.run(
        ["node", str(CONSUMERS / script), *map(str, files)],
        cwd=CONSUMERS,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["file"] for r in results] == list(map(str, files)), done.stdout + done.stderr
    return results


@cache
def _schemas() -> tuple[Any, Any]:
    try:
        import SpiffWorkflow.bpmn.parser as spiff_parser
        import xmlschema
        from lxml import etree
    except ImportError:
        require("SpiffWorkflow, lxml and xmlschema", False, "pip install -e '.[dev]'")
        raise
    xsd = Path(spiff_parser.__file__).parent / "schema" / "BPMN20.xsd"
    return etree.XMLSchema(etree.parse(str(xsd))), xmlschema.XMLSchema(str(xsd))


def xsd_problems(path: Path) -> list[str]:
    """Everything the OMG XSD says is wrong with a file, by two validators."""
    from lxml import etree

    lxml_schema, pure_schema = _schemas()
    document = etree.parse(str(path))
    problems = [] if lxml_schema.validate(document) else [str(e) for e in lxml_schema.error_log]
    problems += [f"{e.reason} @ {e.path}" for e in pure_schema.iter_errors(str(path))]
    return problems


def spiff_run(
    path: Path, data: dict[str, Any], called: Sequence[Path] = (), send: Sequence[str] = ()
) -> list[str]:
    """Parse with SpiffWorkflow's XSD validator, build the spec and run it to the end.

    Service tasks wait for their service, as wio's steps wait for their effect;
    the run completes each as its worker would, delivers each signal the
    process waits for, as a sender would, and fast-forwards each timer once the
    engine has computed its release time (moving that time into the past, as
    wio's tests move a ManualClock). Returns the ids of the elements that ran.
    ``called`` are the files of the processes its call activities call (child
    workflows), which SpiffWorkflow runs inline. The signals named in ``send`` are
    sent the first time the process waits, as an operator would send them (an event
    subprocess's start is no wait SpiffWorkflow lists).
    """
    _schemas()
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser, BpmnValidator
    from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
    from SpiffWorkflow.bpmn.util.event import BpmnEvent
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser(validator=BpmnValidator())
    parser.add_bpmn_file(str(path))
    process = parser.get_process_ids()[0]
    for other in called:
        parser.add_bpmn_file(str(other))
    # Computed durations name a process variable: give each one an hour. Loops
    # restart while their variable names the restart branch: let each exit.
    xml = path.read_text()
    computed = set(re.findall(r"<bpmn:timeDuration[^>]*>(wait_\w+)<", xml))
    loops = set(re.findall(r">(loop_\w+) ==", xml))
    # A for-each section's cardinality names a variable: give each two elements.
    elements = set(re.findall(r"<bpmn:loopCardinality[^>]*>(elements_\w+)<", xml))
    data = {
        **{name: "PT1H" for name in computed},
        **{name: "" for name in loops},
        **{name: 2 for name in elements},
        **data,
    }
    workflow = BpmnWorkflow(parser.get_spec(process), parser.get_subprocess_specs(process))
    workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    workflow.do_engine_steps()
    for _ in range(1000):
        pending = workflow.get_tasks(state=TaskState.READY | TaskState.STARTED)
        if not pending and send:
            for name in send:
                workflow.send_event(BpmnEvent(SignalEventDefinition(name)))
            send = ()
            workflow.do_engine_steps()
            continue
        if not pending:
            waiting = workflow.waiting_events()
            signals = [e for e in waiting if e.event_type == "SignalEventDefinition"]
            timers = [e for e in waiting if e.event_type == "DurationTimerEventDefinition"]
            if not signals and not timers:
                break
            for event in signals:
                workflow.send_event(BpmnEvent(SignalEventDefinition(event.name)))
            for task in workflow.get_tasks(state=TaskState.WAITING):
                if task._get_internal_data("event_value") is not None:  # release time computed
                    task._set_internal_data(event_value="2000-01-01T00:00:00+00:00")
            workflow.refresh_timers()
            workflow.do_engine_steps()
            continue
        for task in pending:
            task.complete() if task.state == TaskState.STARTED else task.run()
        workflow.do_engine_steps()
    assert workflow.is_completed(), f"{path.name} did not run to completion"
    completed = workflow.get_tasks(state=TaskState.COMPLETED)
    return [t.task_spec.bpmn_id for t in completed if t.task_spec.bpmn_id]
