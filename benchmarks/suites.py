"""The benchmarks. Each returns `Figure`s with ratios against a baseline
measured in the same run."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Never

import attrs
import msgspec
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_loads

from benchmarks.flows import (
    Ping,
    durable,
    each_element,
    fanned,
    looped,
    one_step,
    ping,
    sections,
    signalled,
    steps,
    timer_workflow,
)
from benchmarks.measure import POSTGRES_URL, Figure, median_seconds, rate
from wio import Runtime, Workflow
from wio.journal import Journal, NewEvent, open_journal
from wio.model import to_model
from wio.renderers import render, render_mermaid
from wio.renderers.flow import build_flow

ROOT = Path(__file__).resolve().parent.parent


@attrs.frozen
class Sizes:
    steps: int  # (1) steps in one instance
    instances: int  # (2) instances of ten steps, run by two workers
    replay: tuple[int, ...]  # (3) events to rebuild one instance from
    dbos_recover: int  # (3) steps of the workflow DBOS recovers
    history: tuple[int, ...]  # (4) events already in the journal
    probe_steps: int  # (4) steps timed at each history size
    nodes: tuple[int, ...]  # (5) nodes of the in-memory workflows
    render_nodes: int  # (6)
    each_events: int  # (8) events of a for-each section, shared among its elements
    elements: tuple[int, ...]  # (8) elements of the for-each sections
    backlog: tuple[int, ...]  # (9) runnable instances waiting to be claimed
    replay_instances: int  # (10) stored instances `wio replay` checks
    shielded: tuple[int, int]  # (11) checkpointed sections in the history, steps in each
    console_instances: tuple[int, int]  # (12) instances in the journal the console lists
    timers: int  # (13) timers due at once
    one_step: int  # (14) one-step workflows created and run
    async_instances: int  # (15) instances the asyncio runtime advances at once
    repeats: int


FULL = Sizes(
    steps=1_000,
    instances=1_000,
    replay=(10_000, 100_000),
    dbos_recover=1_000,
    history=(100, 1_000, 10_000),
    probe_steps=200,
    nodes=(1_000, 10_000, 100_000),
    render_nodes=1_000,
    each_events=10_000,
    elements=(10, 1_000, 10_000),
    backlog=(1_000, 100_000),
    replay_instances=100_000,
    shielded=(2_000, 10),
    console_instances=(1_000, 100_000),
    timers=10_000,
    one_step=4_000,
    async_instances=1_000,
    repeats=5,
)
QUICK = Sizes(
    steps=50,
    instances=20,
    replay=(500, 1_000),
    dbos_recover=50,
    history=(10, 100, 1_000),
    probe_steps=20,
    nodes=(100, 1_000, 2_000),
    render_nodes=50,
    each_events=1_000,
    elements=(10, 100, 1_000),
    backlog=(100, 1_000),
    replay_instances=200,
    shielded=(20, 10),
    console_instances=(100, 500),
    timers=50,
    one_step=40,
    async_instances=20,
    repeats=1,
)


# -- PostgreSQL helpers ------------------------------------------------------------


@contextmanager
def fresh_schema() -> Iterator[str]:
    schema = f"wio_bench_{uuid.uuid4().hex[:10]}"
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def postgres_journal_url(schema: str) -> str:
    return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"


@contextmanager
def dbos_database() -> Iterator[dict[str, str]]:
    """A fresh DBOS system database on the same server, and the env for the driver."""
    name = f"wio_bench_dbos_{uuid.uuid4().hex[:8]}"
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield {**os.environ, "WIO_BENCH_DBOS_URL": f"{base}/{name}"}
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def dbos(env: dict[str, str], *args: str, crash: bool = False) -> dict[str, Any]:
    run_env = {**env, "WIO_BENCH_CRASH": "1"} if crash else env
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.dbos_driver", *args],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if crash:
        return {}
    if done.returncode != 0:
        raise RuntimeError(f"DBOS driver {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def raw_table(conn: psycopg.Connection[Any], schema: str) -> sql.Composed:
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    table = sql.SQL("{}.raw_events").format(sql.Identifier(schema))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (instance_id TEXT, seq INTEGER, type TEXT, version "
            "INTEGER, payload JSONB, recorded_at TIMESTAMPTZ, PRIMARY KEY (instance_id, seq))"
        ).format(table)
    )
    conn.commit()
    return table


def raw_inserts(
    schema: str,
    instance: str,
    count: int,
    instances: int = 1,
    per_commit: int = 1,
    autocommit: bool = False,
) -> None:
    """The database's limit, over one connection: ``instances`` instances of ``count``
    events, one INSERT each and one COMMIT per ``per_commit`` events (as wio does
    with 1: two round trips per event), or with ``autocommit`` one round trip per
    event, the physical limit of a durable commit per event."""
    with psycopg.connect(POSTGRES_URL, autocommit=autocommit) as conn:
        table = raw_table(conn, schema)
        insert = sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s)").format(table)
        pending = 0
        for number in range(instances):
            for seq in range(1, count + 1):
                row = (f"{instance}-{number}", seq, "Stepped", 1, Jsonb({"count": seq}))
                conn.execute(insert, (*row, datetime.now(UTC)))
                pending += 1
                if not autocommit and pending == per_commit:
                    conn.commit()
                    pending = 0
        if not autocommit:
            conn.commit()


def raw_sqlite_inserts(path: Path, count: int) -> None:
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS raw_events (instance_id TEXT, seq INTEGER, type TEXT, "
        "version INTEGER, payload TEXT, recorded_at REAL, PRIMARY KEY (instance_id, seq))"
    )
    instance = uuid.uuid4().hex
    for seq in range(1, count + 1):
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT INTO raw_events VALUES (?, ?, ?, ?, ?, ?)",
            (instance, seq, "Stepped", 1, json.dumps({"count": seq}), time.time()),
        )
        db.execute("COMMIT")
    db.close()


def figure(
    bench: str,
    name: str,
    value: float,
    unit: str,
    samples: list[float] | None = None,
    baseline: Figure | None = None,
    ratio: float | None = None,
) -> Figure:
    """A figure; its ratio is ``ratio`` when given (the median of per-round ratios),
    else its value over the baseline's."""
    if baseline is None:
        return Figure(bench, name, value, unit, samples=samples)
    if ratio is None:
        ratio = value / baseline.value
    return Figure(bench, name, value, unit, baseline.name, baseline.value, ratio, samples)


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def rounds(sides: dict[str, Callable[[], float]], count: int) -> dict[str, list[float]]:
    """Seconds of each side over ``count`` rounds, the sides run in turn within each
    round, so that a swing in the machine's load hits every side alike."""
    seconds: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(count):
        for side, measure in sides.items():
            seconds[side].append(measure())
    return seconds


def speedup(seconds: dict[str, list[float]], side: str, baseline: str) -> float:
    """The median over rounds of baseline time / side time: how many times faster
    ``side`` ran than ``baseline`` in the same round."""
    return statistics.median(b / s for s, b in zip(seconds[side], seconds[baseline], strict=True))


def preload(journal: Journal, instance: str, count: int) -> None:
    """Append ``count`` events of a `flows.steps` instance in batches (set-up, not timed)."""
    for first in range(0, count, 1_000):
        last = min(count, first + 1_000)
        events = [NewEvent("Stepped", 1, {"count": n}) for n in range(first + 1, last + 1)]
        journal.append(instance, first, events, datetime.now(UTC))


# -- (1) sequential durable steps ----------------------------------------------------


def sequential_steps(sizes: Sizes) -> list[Figure]:
    """One instance of ``steps`` steps, created and run, against DBOS starting and
    running a workflow of as many steps and raw inserts; sides interleaved by round."""
    bench, n = "1. sequential durable steps", sizes.steps
    workflow = durable(n)
    with (
        fresh_schema() as schema,
        open_journal(postgres_journal_url(schema)) as journal,
        tempfile.TemporaryDirectory() as folder,
        open_journal(f"sqlite:///{Path(folder) / 'bench.db'}") as lite_journal,
        dbos_database() as env,
    ):
        runtime = Runtime(workflow, journal=journal)
        lite_runtime = Runtime(workflow, journal=lite_journal)
        sides: dict[str, Callable[[], float]] = {
            "wio": lambda: timed(lambda: runtime.create(uuid.uuid4().hex, 0).advance()),
            # The second of two runs in one process: DBOS's warm rate, launch excluded.
            "dbos": lambda: float(dbos(env, "steps", str(n), "2")["seconds"][1]),
            "raw": lambda: timed(lambda: raw_inserts(schema, uuid.uuid4().hex, n)),
            "raw1": lambda: timed(
                lambda: raw_inserts(schema, uuid.uuid4().hex, n, autocommit=True)
            ),
            "wio_lite": lambda: timed(lambda: lite_runtime.create(uuid.uuid4().hex, 0).advance()),
            "raw_lite": lambda: timed(lambda: raw_sqlite_inserts(Path(folder) / "raw.db", n)),
        }
        seconds = rounds(sides, sizes.repeats)

    def speed(side: str) -> float:
        return rate(n, statistics.median(seconds[side]))

    dbos_pg = figure(bench, "DBOS on PostgreSQL", speed("dbos"), "steps/s", seconds["dbos"])
    raw = figure(
        bench, "raw INSERT+COMMIT on PostgreSQL (2 round trips)", speed("raw"), "events/s",
        seconds["raw"],
    )  # fmt: skip
    raw1 = figure(
        bench, "raw autocommit INSERT on PostgreSQL (1 round trip)", speed("raw1"), "events/s",
        seconds["raw1"],
    )  # fmt: skip
    raw_lite = figure(
        bench, "raw INSERT+COMMIT on SQLite", speed("raw_lite"), "events/s", seconds["raw_lite"]
    )
    wio_pg = speed("wio")
    return [
        figure(
            bench, "wio on PostgreSQL vs DBOS", wio_pg, "steps/s", seconds["wio"], dbos_pg,
            speedup(seconds, "wio", "dbos"),
        ),
        figure(
            bench, "wio on PostgreSQL vs raw, 2 round trips", wio_pg, "steps/s", seconds["wio"],
            raw, speedup(seconds, "wio", "raw"),
        ),
        figure(
            bench, "wio on PostgreSQL vs raw, 1 round trip", wio_pg, "steps/s", seconds["wio"],
            raw1, speedup(seconds, "wio", "raw1"),
        ),
        figure(
            bench, "wio on SQLite vs raw", speed("wio_lite"), "steps/s", seconds["wio_lite"],
            raw_lite, speedup(seconds, "wio_lite", "raw_lite"),
        ),
        dbos_pg,
        raw,
        raw1,
        raw_lite,
    ]  # fmt: skip


# -- (2) throughput with many instances ------------------------------------------------


def wio_throughput(m: int, concurrency: int = 8) -> float:
    """Seconds for two `wio worker` processes to run ``m`` instances of ten steps,
    from the first instance's creation (as DBOS is timed from its first enqueue),
    each advancing ``concurrency`` instances at once."""
    with fresh_schema() as schema:
        url = postgres_journal_url(schema)
        with open_journal(url) as journal:
            runtime = Runtime(durable(10, "ten"), journal=journal)
            command = [
                sys.executable, "-m", "wio.cli", "worker", "--journal", url,
                "--workflows", "benchmarks/flows.py:ten_steps", "--poll-interval", "0.05",
                "--concurrency", str(concurrency),
            ]  # fmt: skip
            started = time.perf_counter()
            for _ in range(m):
                runtime.create(uuid.uuid4().hex, 0)
            workers = [
                subprocess.Popen(
                    command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                for _ in range(2)
            ]
            try:
                with psycopg.connect(POSTGRES_URL, autocommit=True) as watcher:
                    count = sql.SQL(
                        "SELECT count(*) FROM {}.instances WHERE status = 'finished'"
                    ).format(sql.Identifier(schema))
                    # A cheap count, so watching does not load the server being measured.
                    while (watcher.execute(count).fetchone() or (0,))[0] < m:
                        time.sleep(0.05)
                return time.perf_counter() - started
            finally:
                for worker in workers:
                    worker.terminate()
                    worker.wait(timeout=60)


def raw_throughput(m: int, per_commit: int = 1) -> float:
    """Seconds for two processes to insert the same events, one INSERT each and a
    COMMIT per ``per_commit`` of them: batching is the ceiling for many instances."""
    with fresh_schema() as schema:
        with psycopg.connect(POSTGRES_URL) as conn:
            raw_table(conn, schema)  # before the inserters: CREATE ... IF NOT EXISTS can race
        started = time.perf_counter()
        inserters = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from benchmarks.suites import raw_inserts; "
                    f"raw_inserts({schema!r}, 'worker-{n}', 10, {m // 2}, {per_commit})",
                ],
                cwd=ROOT,
            )
            for n in range(2)
        ]
        for inserter in inserters:
            if inserter.wait(timeout=1800) != 0:
                raise RuntimeError("a raw inserter failed: the baseline would be wrong")
        return time.perf_counter() - started


def dbos_throughput(m: int) -> float:
    """Seconds for DBOS, in two processes sharing a queue, to run ``m`` ten-step workflows."""
    with dbos_database() as env:
        helper = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.dbos_driver", "queue-worker", "3600"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(3)  # the second DBOS process is up and serving the queue
            seconds: float = dbos(env, "queue", str(m), "10")["seconds"]
            return seconds
        finally:
            helper.terminate()
            helper.wait(timeout=60)


def median_of(measure: Any, repeats: int) -> tuple[float, list[float]]:
    samples = [measure() for _ in range(repeats)]
    return statistics.median(samples), samples


def throughput(sizes: Sizes) -> list[Figure]:
    bench, m = "2. throughput, 2 worker processes", sizes.instances
    events = m * 10
    sides: dict[str, Callable[[], float]] = {
        "wio": partial(wio_throughput, m),
        "alone": partial(wio_throughput, m, 1),
        "dbos": partial(dbos_throughput, m),
        "raw": partial(raw_throughput, m),
        "raw10": partial(raw_throughput, m, 10),
        "raw100": partial(raw_throughput, m, 100),
    }
    seconds = rounds(sides, min(3, sizes.repeats))

    def speed(side: str) -> float:
        return rate(events, statistics.median(seconds[side]))

    def baseline(side: str, name: str) -> Figure:
        return figure(bench, name, speed(side), "events/s", seconds[side])

    dbos_events = baseline("dbos", "DBOS with a queue, 2 processes")
    raw = baseline("raw", "raw concurrent INSERT+COMMIT, 2 processes")
    raw10 = baseline("raw10", "raw batched, 10 INSERTs per COMMIT, 2 processes")
    raw100 = baseline("raw100", "raw batched, 100 INSERTs per COMMIT, 2 processes")
    wio_events, wio_samples = speed("wio"), seconds["wio"]
    return [
        figure(bench, "wio instances (10 steps each)", rate(m, statistics.median(wio_samples)),
               "instances/s"),
        figure(bench, "wio events vs DBOS", wio_events, "events/s", wio_samples, dbos_events,
               speedup(seconds, "wio", "dbos")),
        figure(bench, "wio events vs raw", wio_events, "events/s", wio_samples, raw,
               speedup(seconds, "wio", "raw")),
        figure(bench, "wio events vs raw batched by 10", wio_events, "events/s", wio_samples,
               raw10, speedup(seconds, "wio", "raw10")),
        figure(bench, "wio events vs raw batched by 100", wio_events, "events/s", wio_samples,
               raw100, speedup(seconds, "wio", "raw100")),
        figure(bench, "wio events vs one instance at a time (--concurrency 1)", wio_events,
               "events/s", wio_samples, baseline("alone", "wio, --concurrency 1"),
               speedup(seconds, "wio", "alone")),
        dbos_events,
        raw,
        raw10,
        raw100,
    ]  # fmt: skip


# -- (3) recovery (replay) speed -------------------------------------------------------


def replay(sizes: Sizes) -> list[Figure]:
    """Rebuilding one instance from its events, against reading the same rows with
    one SELECT, JSON decoded by psycopg's default (the standard library) and by
    msgspec (what wio's PostgreSQL journal decodes with), the three timed in turn
    round by round."""
    bench = "3. recovery (replay)"
    figures = []
    for count in sizes.replay:
        workflow = durable(count, "replay")
        with fresh_schema() as schema, open_journal(postgres_journal_url(schema)) as journal:
            runtime = Runtime(workflow, journal=journal)
            runtime.create("i", 0)
            preload(journal, "i", count)
            select = sql.SQL(
                "SELECT seq, type, version, payload FROM {}.events "
                "WHERE instance_id = %s ORDER BY seq"
            ).format(sql.Identifier(schema))
            with (
                psycopg.connect(POSTGRES_URL) as conn,
                psycopg.connect(POSTGRES_URL) as fast,
            ):
                set_json_loads(msgspec.json.decode, fast)

                def rebuild(
                    workflow: Workflow[int, Never, int] = workflow, count: int = count
                ) -> None:
                    assert Runtime(workflow, journal=journal).get("i").state == count

                def read(
                    on: psycopg.Connection[Any], select: sql.Composed = select, count: int = count
                ) -> None:
                    assert len(on.execute(select, ("i",)).fetchall()) == count

                seconds = rounds(
                    {
                        "wio": partial(timed, rebuild),
                        "json": partial(timed, partial(read, conn)),
                        "msgspec": partial(timed, partial(read, fast)),
                    },
                    max(3, sizes.repeats),
                )
        raw = figure(
            bench,
            f"raw SELECT + JSON decode, {count:,} events",
            rate(count, statistics.median(seconds["json"])),
            "events/s",
            seconds["json"],
        )
        raw_fast = figure(
            bench,
            f"raw SELECT + msgspec decode, {count:,} events",
            rate(count, statistics.median(seconds["msgspec"])),
            "events/s",
            seconds["msgspec"],
        )
        wio_rate = rate(count, statistics.median(seconds["wio"]))
        figures += [
            figure(
                bench,
                f"wio rebuilds {count:,} events vs raw",
                wio_rate,
                "events/s",
                seconds["wio"],
                raw,
                ratio=speedup(seconds, "wio", "json"),
            ),
            figure(
                bench,
                f"wio rebuilds {count:,} events vs raw with msgspec",
                wio_rate,
                "events/s",
                seconds["wio"],
                raw_fast,
                ratio=speedup(seconds, "wio", "msgspec"),
            ),
            raw,
            raw_fast,
        ]
    with dbos_database() as env:
        n = sizes.dbos_recover

        def recover_once() -> float:
            workflow_id = f"crash-{uuid.uuid4().hex[:8]}"
            dbos(env, "crash", str(n), workflow_id, crash=True)
            seconds: float = dbos(env, "recover", workflow_id)["seconds"]
            return seconds

        dbos_seconds, _ = median_of(recover_once, min(3, sizes.repeats))
    name = f"DBOS recovers a {n:,}-step workflow (launch to result)"
    figures.append(figure(bench, name, rate(n, dbos_seconds), "steps/s"))
    return figures


# -- (4) latency of one step or signal against history --------------------------------


def _ping(instance: Any, numbers: Iterator[int]) -> None:
    instance.signal(ping, Ping(next(numbers)))


def latency(sizes: Sizes) -> list[Figure]:
    bench = "4. latency vs history"
    steps_at: dict[int, float] = {}
    signals_at: dict[int, float] = {}
    for history in sizes.history:
        workflow = durable(history + sizes.probe_steps, "latency")
        with fresh_schema() as schema, open_journal(postgres_journal_url(schema)) as journal:
            Runtime(workflow, journal=journal).create("i", 0)
            preload(journal, "i", history)
            instance = Runtime(workflow, journal=journal).get("i")
            instance.step()  # takes the lease; the timed steps are steady-state
            steps_at[history], _ = median_seconds(instance.step, sizes.probe_steps - 1)
        waiting = signalled(history)
        with fresh_schema() as schema, open_journal(postgres_journal_url(schema)) as journal:
            Runtime(waiting, journal=journal).create("i", 0)
            preload(journal, "i", history)
            instance = Runtime(waiting, journal=journal).get("i")
            instance.advance()  # replays the history and takes the lease: now waiting for a ping
            numbers = iter(range(1, sizes.probe_steps + 1))
            send = partial(_ping, instance, numbers)
            send()
            signals_at[history], _ = median_seconds(send, sizes.probe_steps - 1)
    figures: list[Figure] = []
    for what, results in (("step", steps_at), ("signal", signals_at)):
        small = sizes.history[0]
        base = figure(
            bench, f"one {what} with {small:,} events before it", results[small] * 1e3, "ms"
        )
        figures.append(base)
        for history in sizes.history[1:]:
            name = f"one {what} with {history:,} events before it"
            figures.append(figure(bench, name, results[history] * 1e3, "ms", baseline=base))
    return figures


# -- (5) the in-memory interpreter ------------------------------------------------------


def _timed_run(workflow: Any) -> float:
    instance = Runtime(workflow).create("i", 0)
    started = time.perf_counter()
    instance.advance()
    return time.perf_counter() - started


def rebuild(workflow: Any, events: list[Any]) -> None:
    Runtime(workflow).rebuild("r", 0, events)


def interpreter(sizes: Sizes) -> list[Figure]:
    bench = "5. in-memory interpreter"
    figures: list[Figure] = []
    seconds: dict[tuple[str, int], float] = {}
    for n in sizes.nodes:
        workflow = steps(n)
        # One instance at a time: holding every run's history would slow what follows.
        seconds["run", n], _ = median_of(partial(_timed_run, workflow), min(3, sizes.repeats))
        live = Runtime(workflow).create("i", 0)
        live.advance()
        events = [e.event for e in live.events]
        # A fresh runtime each time: what a process does when it recovers an instance.
        replays = min(3, sizes.repeats)
        seconds["replay", n], _ = median_seconds(partial(rebuild, workflow, events), replays)
    for kind in ("run", "replay"):
        first = sizes.nodes[0]
        base = figure(
            bench, f"{kind} {first:,} nodes", rate(first, seconds[kind, first]), "nodes/s"
        )
        figures.append(base)
        for n in sizes.nodes[1:]:
            speed = rate(n, seconds[kind, n])
            figures.append(figure(bench, f"{kind} {n:,} nodes", speed, "nodes/s", baseline=base))
        # Linear scaling makes time(largest) / time(next) the ratio of their sizes.
        big, small = sizes.nodes[-1], sizes.nodes[-2]
        figures.append(
            Figure(
                bench,
                f"{kind}: time({big:,}) / time({small:,})",
                seconds[kind, big] / seconds[kind, small],
                "ratio",
            )
        )
    return figures


# -- (6) renderers ---------------------------------------------------------------------


def renderers(sizes: Sizes) -> list[Figure]:
    bench = f"6. renderers, {sizes.render_nodes:,}-node workflow"
    workflow = steps(sizes.render_nodes)
    base_seconds, samples = median_seconds(lambda: render(workflow, "json"), sizes.repeats)
    base = figure(bench, "model JSON", base_seconds * 1e3, "ms", samples)
    figures = [base]

    def wide_mermaid() -> str:
        # Mermaid's viewers draw at most 500 links, so `render` refuses a larger chart
        # (ChartTooLarge): this is the chart for a viewer set to draw more.
        return render_mermaid(build_flow(to_model(workflow)), max_edges=None)

    for fmt in ("mermaid", "bpmn", "dot", "text", "svg"):
        run = wide_mermaid if fmt == "mermaid" else partial(render, workflow, fmt)
        seconds, samples = median_seconds(run, sizes.repeats)
        figures.append(figure(bench, fmt, seconds * 1e3, "ms", samples, base))
    return figures


# -- (7) loops and parallel sections --------------------------------------------------


def loops_and_flows(sizes: Sizes) -> list[Figure]:
    """Replay and live runs of a loop and of a ten-flow parallel section, each
    recording as many events as a straight line of steps, which is the baseline."""
    bench = "7. loops and parallel flows, in memory"
    figures: list[Figure] = []
    runs = min(3, sizes.repeats)
    for n in sizes.nodes[-2:]:
        shapes = {
            f"{n:,} steps": steps(n),
            f"loop of {n:,} iterations": looped(n),
            f"10 parallel flows of {n // 10:,} steps": fanned(10, n),
        }
        for kind in ("run", "replay"):
            base: Figure | None = None
            for label, workflow in shapes.items():
                live = Runtime(workflow).create("i", 0)
                live.advance()
                events = [e.event for e in live.events]
                assert len(events) == n, (label, len(events))
                if kind == "run":
                    seconds, _ = median_of(partial(_timed_run, workflow), runs)
                else:
                    seconds, _ = median_seconds(partial(rebuild, workflow, events), runs)
                figures.append(
                    figure(bench, f"{kind}: {label}", rate(n, seconds), "events/s", baseline=base)
                )
                base = base or figures[-1]
    return figures


# -- (8) for-each sections ---------------------------------------------------------------


def for_each_sections(sizes: Sizes) -> list[Figure]:
    """Live runs and replays of for-each sections over more and more elements, all
    recording the same number of events (each element's body a share of the steps):
    flat per-event cost means the same rate whatever the number of elements. A
    straight line of as many steps is the baseline; the shapes take turns.

    In the largest section every event is also an element's whole life (its entry,
    its completion, its result collected), a constant per element that the others
    spread over many events. So the fewest and the most elements also run with two
    and four times the steps (bodies of 2 and 4 steps at 10,000 elements, both
    sequences): the difference between the two, divided by the events added, is
    the cost of one more event with the per-element costs taken out (the marginal
    rate), which is what "per-event cost flat" asks of them."""
    bench = "8. for-each sections, in memory"
    n = sizes.each_events
    fewest, most = sizes.elements[0], sizes.elements[-1]
    shapes = {f"{n:,} steps": (steps(n), n)} | {
        f"for each of {e:,} elements": (each_element(e, n), n) for e in sizes.elements
    }
    longer = {
        (e, times): f"for each of {e:,} elements, {times}x the steps"
        for e in (fewest, most)
        for times in (2, 4)
    }
    shapes |= {
        label: (each_element(e, times * n), times * n) for (e, times), label in longer.items()
    }
    journals: dict[str, list[Any]] = {}
    for label, (workflow, events) in shapes.items():
        live = Runtime(workflow).create("i", 0)
        live.advance()
        journals[label] = [e.event for e in live.events]
        assert len(journals[label]) == events, (label, len(journals[label]))
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(max(3, sizes.repeats)):  # interleaved: each round times every shape
        for label, (workflow, _events) in shapes.items():
            samples.setdefault(("run", label), []).append(_timed_run(workflow))
            started = time.perf_counter()
            rebuild(workflow, journals[label])
            samples.setdefault(("replay", label), []).append(time.perf_counter() - started)
    figures: list[Figure] = []
    for kind in ("run", "replay"):
        base: Figure | None = None
        seconds = {label: statistics.median(samples[kind, label]) for label in shapes}
        for label, (_workflow, events) in shapes.items():
            figures.append(
                figure(
                    bench, f"{kind}: {label}", rate(events, seconds[label]), "events/s",
                    baseline=base,
                )
            )  # fmt: skip
            base = base or figures[-1]
        by_label = {f.name: f.value for f in figures}
        figures.append(
            Figure(
                bench,
                f"{kind} rate at {most:,} elements / at {fewest:,}",
                by_label[f"{kind}: for each of {most:,} elements"]
                / by_label[f"{kind}: for each of {fewest:,} elements"],
                "ratio",
            )
        )
        # Seconds per added event, with each element's own costs cancelled out.
        marginal = {
            e: (seconds[longer[e, 4]] - seconds[longer[e, 2]]) / (2 * n) for e in (fewest, most)
        }
        figures.append(
            Figure(
                bench,
                f"{kind} marginal rate at {most:,} elements / at {fewest:,}",
                marginal[fewest] / marginal[most] if marginal[most] > 0 else float("nan"),
                "ratio",
            )
        )
    return figures


# -- (9) claim latency against the backlog -------------------------------------------


CLAIMS = 50  # timed claims at each backlog size
CLAIM_LIMIT = 10  # instances per claim, a worker's default batch


def claim_latency(sizes: Sizes) -> list[Figure]:
    """One worker's claim of a batch, with a backlog of runnable instances waiting."""
    bench = "9. claim latency vs backlog"
    workflow = durable(1, "claimed")
    median_ms: dict[int, float] = {}
    for backlog in sizes.backlog:
        with fresh_schema() as schema, open_journal(postgres_journal_url(schema)) as journal:
            Runtime(workflow, journal=journal).create("first", 0)
            instances = sql.SQL("{}.instances").format(sql.Identifier(schema))
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                # Set-up in one statement: a backlog of 100k takes seconds, not minutes.
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} SELECT 'i' || n, workflow, workflow_version, status, "
                        "input, created_at, updated_at + n * interval '1 ms', NULL, NULL, NULL, "
                        "NULL, 0 FROM {} CROSS JOIN generate_series(1, %s) n WHERE id = 'first'"
                    ).format(instances, instances),
                    (backlog - 1,),
                )
                conn.execute(sql.SQL("ANALYZE {}").format(instances))
                release = sql.SQL(
                    "UPDATE {} SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ANY(%s)"
                )
                samples = []
                for _ in range(CLAIMS):
                    now = datetime.now(UTC)
                    started = time.perf_counter()
                    claimed = journal.claim_runnable(
                        "bench", now, timedelta(seconds=30), CLAIM_LIMIT
                    )
                    samples.append(time.perf_counter() - started)
                    assert len(claimed) == min(CLAIM_LIMIT, backlog)
                    # The same backlog for every claim.
                    conn.execute(release.format(instances), ([r.id for r in claimed],))
            median_ms[backlog] = statistics.median(samples) * 1e3
    first = sizes.backlog[0]
    base = figure(bench, f"claim with a backlog of {first:,}", median_ms[first], "ms")
    return [base] + [
        figure(bench, f"claim with a backlog of {n:,}", median_ms[n], "ms", baseline=base)
        for n in sizes.backlog[1:]
    ]


# -- (10) `wio replay` across many stored instances -------------------------------------

EVENTS_PER_INSTANCE = 4


def store_instances(schema: str, workflow: Workflow[int, Never, int], count: int) -> None:
    """``count`` finished instances of ``workflow``, copied in (set-up, not timed)."""
    now = datetime.now(UTC)
    with psycopg.connect(POSTGRES_URL) as conn:
        table = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier("instances"))
        columns = "(id, workflow, workflow_version, status, input, created_at, updated_at)"
        with conn.cursor().copy(
            sql.SQL("COPY {} " + columns + " FROM STDIN").format(table)
        ) as copy:
            for n in range(count):
                copy.write_row((f"i{n}", workflow.name, 1, "finished", Jsonb(0), now, now))
        events = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier("events"))
        with conn.cursor().copy(
            sql.SQL(
                "COPY {} (instance_id, seq, type, version, payload, recorded_at) FROM STDIN"
            ).format(events)
        ) as copy:
            for n in range(count):
                for seq in range(1, EVENTS_PER_INSTANCE + 1):
                    copy.write_row((f"i{n}", seq, "Stepped", 1, Jsonb({"count": seq}), now))


def replay_many(sizes: Sizes) -> list[Figure]:
    """`wio replay`'s check of every stored instance against the code, against
    reading the same rows (one SELECT, JSON decoded), interleaved run by run."""
    from wio.replayer import replay_journal

    bench = "10. wio replay across many instances"
    count = sizes.replay_instances
    workflow = durable(EVENTS_PER_INSTANCE, "stored")
    with fresh_schema() as schema, open_journal(postgres_journal_url(schema)) as journal:
        store_instances(schema, workflow, count)
        select = sql.SQL(
            "SELECT instance_id, seq, type, version, payload FROM {}.events "
            "ORDER BY instance_id, seq"
        ).format(sql.Identifier(schema))
        wio_samples: list[float] = []
        raw_samples: list[float] = []
        with psycopg.connect(POSTGRES_URL) as conn:
            for _ in range(sizes.repeats):
                started = time.perf_counter()
                verdicts = sum(v.ok for v in replay_journal(journal, [workflow]))
                wio_samples.append(time.perf_counter() - started)
                assert verdicts == count, verdicts
                started = time.perf_counter()
                rows = conn.execute(select).fetchall()
                raw_samples.append(time.perf_counter() - started)
                assert len(rows) == count * EVENTS_PER_INSTANCE
    raw = figure(
        bench,
        f"raw SELECT + JSON decode of their {count * EVENTS_PER_INSTANCE:,} events",
        rate(count, statistics.median(raw_samples)),
        "instances/s",
        raw_samples,
    )
    checked = figure(
        bench,
        f"wio replay checks {count:,} instances of {EVENTS_PER_INSTANCE} events vs raw",
        rate(count, statistics.median(wio_samples)),
        "instances/s",
        wio_samples,
        raw,
    )
    return [checked, raw]


# -- (11) checkpoint shielding ----------------------------------------------------------


def stored_history(journal: Journal, workflow: Workflow[int, Any, int]) -> int:
    """Record a live in-memory run of ``workflow`` in ``journal`` as instance "i", with
    the nodes that recorded each event (set-up, not timed); returns its event count."""
    live = Runtime(workflow).create("i", 0)
    live.advance()
    Runtime(workflow, journal=journal).create("i", 0)
    encoded = []
    for recorded in live.events:
        event = workflow.codec.encode(recorded.event)
        encoded.append(NewEvent(event.type, event.version, event.payload, recorded.node))
    for first in range(0, len(encoded), 1_000):
        journal.append("i", first, encoded[first : first + 1_000], datetime.now(UTC))
    return len(encoded)


def shielding(sizes: Sizes) -> list[Figure]:
    """Rebuilding an instance from a long history of checkpointed sections, whose
    events the checkpoints cover, against rebuilding the same sections' events
    without checkpoints (every event decoded and applied, as before shielding)."""
    iterations, per_section = sizes.shielded
    bench = f"11. checkpoint shielding, {iterations:,} sections of {per_section} steps, SQLite"
    section_events = iterations * per_section
    with tempfile.TemporaryDirectory() as folder:
        plain, shielded = (sections(iterations, per_section, checkpointed=c) for c in (False, True))
        urls = {w.name: f"sqlite:///{folder}/{w.name}.db" for w in (plain, shielded)}
        for workflow in (plain, shielded):
            with open_journal(urls[workflow.name]) as journal:
                stored_history(journal, workflow)

        def rebuild_from(workflow: Workflow[int, Any, int]) -> float:
            with open_journal(urls[workflow.name]) as journal:
                started = time.perf_counter()
                instance = Runtime(workflow, journal=journal).get("i")
                seconds = time.perf_counter() - started
            assert instance.result == section_events, instance.waiting_for()
            return seconds

        samples: dict[str, list[float]] = {plain.name: [], shielded.name: []}
        for _ in range(max(3, sizes.repeats)):  # the two sides interleaved
            for workflow in (plain, shielded):
                samples[workflow.name].append(rebuild_from(workflow))
    base = figure(
        bench,
        f"rebuild {section_events:,} section events without checkpoints",
        rate(section_events, statistics.median(samples[plain.name])),
        "events/s",
        samples[plain.name],
    )
    name = f"rebuild the same sections, checkpointed (+{iterations:,} checkpoint events)"
    seconds = statistics.median(samples[shielded.name])
    shown = figure(
        bench, name, rate(section_events, seconds), "events/s", samples[shielded.name], base
    )
    return [base, shown]


# -- (12) the console's list of instances -------------------------------------------------

STATUS_MIX = "finished finished finished waiting running failed cancelled finished finished waiting"
LIST_CASES = {  # what an operator filters by, each with an index of its own
    "first page": {},
    "status failed": {"status": "failed"},
    "workflow and version": {"workflow": "expenses", "version": "1"},
    "tag employee": {"tag": "employee=e42"},
    "id prefix": {"id_prefix": "claim-4242"},
    "updated in an hour": {
        "updated_from": "2026-01-01T00:10:00+00:00",
        "updated_to": "2026-01-01T01:10:00+00:00",
    },
    "a page deep in the list": {"after": "claim-{middle}"},
}


def store_claims(schema: str, count: int) -> None:
    """``count`` expense claims with two events and two tags each, statuses mixed,
    created a second apart (set-up, not timed)."""
    table = partial(sql.SQL("{}.{}").format, sql.Identifier(schema))
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (id, workflow, workflow_version, status, input, created_at, "
                "updated_at, attempts) SELECT 'claim-' || n, 'expenses', 1, "
                "(string_to_array(%s, ' '))[n %% 10 + 1], '{{}}'::jsonb, "
                "timestamptz '2026-01-01' + n * interval '1 second', "
                "timestamptz '2026-01-01' + n * interval '1 second' + interval '5 minutes', 0 "
                "FROM generate_series(1, %s) n"
            ).format(table(sql.Identifier("instances"))),
            (STATUS_MIX, count),
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (instance_id, seq, type, version, payload, recorded_at) "
                "SELECT 'claim-' || n, seq, 'PolicyChecked', 1, '{{}}'::jsonb, now() "
                "FROM generate_series(1, %s) n CROSS JOIN generate_series(1, 2) seq"
            ).format(table(sql.Identifier("events"))),
            (count,),
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} SELECT 'claim-' || n, 'employee', 'e' || (n %% 1000) "
                "FROM generate_series(1, %s) n UNION ALL "
                "SELECT 'claim-' || n, 'team', 't' || (n %% 7) FROM generate_series(1, %s) n"
            ).format(table(sql.Identifier("instance_tags"))),
            (count, count),
        )
        for name in ("instances", "events", "instance_tags"):
            conn.execute(sql.SQL("ANALYZE {}").format(table(sql.Identifier(name))))


def console_list(sizes: Sizes) -> list[Figure]:
    """A page of the console's instance list (HTML with the counts by status of what
    the filter matches, counted in the same request), and of the API's, with each
    filter, against the same pages at a small journal."""
    from litestar.testing import TestClient

    from wio.console.demo import example
    from wio.server.app import create_app

    bench = "12. console list page"
    expenses = example()
    small, large = sizes.console_instances
    median_ms: dict[tuple[int, str, str], float] = {}
    requests = max(5, 3 * sizes.repeats)
    for count in (small, large):
        with fresh_schema() as schema, open_journal(postgres_journal_url(schema)) as journal:
            store_claims(schema, count)
            with TestClient(create_app(journal, [expenses.workflow])) as http:
                for case, params in LIST_CASES.items():
                    query = {k: v.format(middle=count // 2) for k, v in params.items()}
                    for where, path in (("console", "/"), ("API", "/instances")):
                        samples = []
                        for _ in range(requests):
                            started = time.perf_counter()
                            answer = http.get(path, params={**query, "limit": "50"})
                            samples.append(time.perf_counter() - started)
                            assert answer.status_code == 200, (case, answer.text[:300])
                        median_ms[(count, where, case)] = statistics.median(samples) * 1e3
    figures = []
    for where in ("console", "API"):
        for case in LIST_CASES:
            base = figure(
                bench,
                f"{where}, {case}, {small:,} instances",
                median_ms[(small, where, case)],
                "ms",
            )
            figures.append(
                figure(
                    bench,
                    f"{where}, {case}, {large:,} instances",
                    median_ms[(large, where, case)],
                    "ms",
                    baseline=base,
                )
            )
    return figures


# -- (13) timers due at once ---------------------------------------------------------


def due_timers(count: int, concurrency: int = 8, query: str = "") -> float:
    """Seconds for one `wio worker` process to fire ``count`` timers that are all due,
    each followed by one step (the instance then finishes): from the first timer
    released to the last instance finished, as the worker recorded them (the
    worker's start-up is not timed). ``query`` ends the journal URL."""
    workflow = timer_workflow
    with fresh_schema() as schema:
        url = postgres_journal_url(schema) + query
        with open_journal(url) as journal:
            runtime = Runtime(workflow, journal=journal)
            runtime.create("first", 0).advance()  # records the timer's start, then waits
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                names = {t: sql.Identifier(schema, t) for t in ("instances", "events")}
                # Set-up in two statements: copies of the waiting instance and its events.
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} SELECT 'i' || n, workflow, workflow_version, status, "
                        "input, created_at, updated_at, wakeup_at, NULL, NULL, NULL, 0 "
                        "FROM {} CROSS JOIN generate_series(2, %s) n WHERE id = 'first'"
                    ).format(names["instances"], names["instances"]),
                    (count,),
                )
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} SELECT 'i' || n, seq, type, version, payload, "
                        "recorded_at, node FROM {} CROSS JOIN generate_series(2, %s) n "
                        "WHERE instance_id = 'first'"
                    ).format(names["events"], names["events"]),
                    (count,),
                )
                conn.execute(
                    sql.SQL("UPDATE {} SET lease_owner = NULL, lease_expires_at = NULL").format(
                        names["instances"]
                    )
                )
                time.sleep(0.6)  # every timer is due
                command = [
                    sys.executable, "-m", "wio.cli", "worker", "--journal", url,
                    "--workflows", "benchmarks/flows.py:timer_workflow", "--poll-interval", "0.05",
                    "--concurrency", str(concurrency),
                ]  # fmt: skip
                worker = subprocess.Popen(
                    command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                try:
                    finished = sql.SQL("SELECT count(*) FROM {} WHERE status = 'finished'").format(
                        names["instances"]
                    )
                    while (conn.execute(finished).fetchone() or (0,))[0] < count:
                        time.sleep(0.05)
                finally:
                    worker.terminate()
                    worker.wait(timeout=60)
                row = conn.execute(
                    sql.SQL(
                        "SELECT (SELECT max(updated_at) FROM {}) - (SELECT min(recorded_at) "
                        "FROM {} WHERE type = 'wio.TimerReleased')"
                    ).format(names["instances"], names["events"])
                ).fetchone()
    assert row is not None
    seconds: float = row[0].total_seconds()
    return seconds


def raw_timer_baseline(count: int) -> float:
    """Seconds for one connection to INSERT and COMMIT ``count`` events, one by one."""
    with fresh_schema() as schema:
        return timed(partial(raw_inserts, schema, "raw", count))


def timers(sizes: Sizes) -> list[Figure]:
    bench = f"13. {sizes.timers:,} timers due at once, 1 worker"
    seconds = rounds(
        {
            "wio": partial(due_timers, sizes.timers),
            "alone": partial(due_timers, sizes.timers, 1),
            "plain": partial(due_timers, sizes.timers, 8, "&group_commit=0"),
            "raw": partial(raw_timer_baseline, sizes.timers),
        },
        min(3, max(1, sizes.repeats)),
    )
    raw = figure(
        bench,
        "raw INSERT+COMMIT, one connection",
        rate(sizes.timers, statistics.median(seconds["raw"])),
        "events/s",
        seconds["raw"],
    )
    fired = figure(
        bench,
        "wio fires timers vs raw",
        rate(sizes.timers, statistics.median(seconds["wio"])),
        "timers/s",
        seconds["wio"],
        raw,
        speedup(seconds, "wio", "raw"),
    )
    alone = figure(
        bench,
        "wio, one timer at a time (--concurrency 1)",
        rate(sizes.timers, statistics.median(seconds["alone"])),
        "timers/s",
        seconds["alone"],
    )
    plain = figure(
        bench,
        "wio, each append committed alone (?group_commit=0)",
        rate(sizes.timers, statistics.median(seconds["plain"])),
        "timers/s",
        seconds["plain"],
    )
    return [
        fired,
        figure(bench, "wio fires timers vs one at a time", fired.value, "timers/s",
               seconds["wio"], alone, speedup(seconds, "wio", "alone")),
        figure(bench, "wio fires timers (group commit) vs each append alone", fired.value,
               "timers/s", seconds["wio"], plain, speedup(seconds, "wio", "plain")),
        alone,
        plain,
        raw,
    ]  # fmt: skip


# -- (14) one-step durable workflows per second, creation included ------------------------

STRETCH_PROCESSES = 4  # two per core: each waits on its commits half the time


def ready_then_timed(run: Callable[[], object]) -> None:
    """Say "ready", wait for "go" on stdin, run, and print when it finished (`time.time`):
    the processes of a measurement start together, their imports untimed."""
    print("ready", flush=True)
    sys.stdin.readline()
    run()
    print(time.time(), flush=True)


def one_step_workflows(schema: str, count: int) -> None:
    """Create and run ``count`` one-step workflows in this process, once told to go."""
    with open_journal(postgres_journal_url(schema)) as journal:
        runtime = Runtime(one_step, journal=journal)

        def run() -> None:
            for _ in range(count):
                instance_id = uuid.uuid4().hex
                runtime.create(instance_id, 0).advance()
                runtime.forget(instance_id)

        ready_then_timed(run)


def in_processes(code: str, processes: int) -> float:
    """Seconds from a common start to the last of ``processes`` processes running
    ``code`` (which calls `ready_then_timed`) finishing."""
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for run in runs:
        assert run.stdout is not None and run.stdout.readline().strip() == "ready"
    started = time.time()
    for run in runs:
        assert run.stdin is not None
        run.stdin.write("go\n")
        run.stdin.flush()
    ends = []
    for run in runs:
        out, _ = run.communicate(timeout=3600)
        if run.returncode != 0:
            raise RuntimeError("a benchmark process failed: the figure would be wrong")
        ends.append(float(out.split()[-1]))
    return max(ends) - started


def wio_one_step(count: int) -> float:
    with fresh_schema() as schema:
        open_journal(postgres_journal_url(schema)).close()  # the tables, before the start
        per = count // STRETCH_PROCESSES
        return in_processes(
            "from benchmarks.suites import one_step_workflows; "
            f"one_step_workflows({schema!r}, {per})",
            STRETCH_PROCESSES,
        )


def raw_commits(schema: str, count: int) -> None:
    ready_then_timed(partial(raw_inserts, schema, uuid.uuid4().hex, count))


def raw_one_step(count: int) -> float:
    """The same processes, each committing one INSERT at a time, as many as wio's
    workflows: the database's rate of separate commits from that many clients."""
    with fresh_schema() as schema:
        with psycopg.connect(POSTGRES_URL) as conn:
            raw_table(conn, schema)
        per = count // STRETCH_PROCESSES
        return in_processes(
            f"from benchmarks.suites import raw_commits; raw_commits({schema!r}, {per})",
            STRETCH_PROCESSES,
        )


def stretch(sizes: Sizes) -> list[Figure]:
    count = sizes.one_step
    bench = f"14. one-step durable workflows, creation included, {STRETCH_PROCESSES} processes"
    seconds = rounds(
        {"wio": partial(wio_one_step, count), "raw": partial(raw_one_step, count)},
        min(3, max(1, sizes.repeats)),
    )
    raw = figure(
        bench,
        f"raw INSERT+COMMIT, {STRETCH_PROCESSES} processes",
        rate(count, statistics.median(seconds["raw"])),
        "commits/s",
        seconds["raw"],
    )
    shown = figure(
        bench,
        "wio one-step workflows vs raw commits",
        rate(count, statistics.median(seconds["wio"])),
        "workflows/s",
        seconds["wio"],
        raw,
        speedup(seconds, "wio", "raw"),
    )
    return [shown, raw]


# -- (15) group commit: the asyncio runtime advancing many instances at once -------------

ASYNC_THREADS = 32  # threads for the journal calls: the concurrency of the appends


def async_instances(count: int, query: str) -> float:
    """Seconds for one `AsyncRuntime` to create ``count`` instances of ten steps and
    advance them all at once, on a journal URL ending in ``query``, its journal calls
    in a pool of `ASYNC_THREADS` threads (the journal fitted to it)."""
    import asyncio

    from wio import AsyncRuntime

    workflow = durable(10, "ten")
    with fresh_schema() as schema:
        url = postgres_journal_url(schema) + query
        with open_journal(url) as journal:
            runtime = AsyncRuntime(workflow, journal=journal, concurrency=ASYNC_THREADS)

            async def run_one(instance_id: str) -> None:
                instance = await runtime.create(instance_id, 0)
                await instance.advance()
                assert instance.result == 10
                runtime.forget(instance_id)

            async def run_all() -> float:
                started = time.perf_counter()
                await asyncio.gather(*(run_one(uuid.uuid4().hex) for _ in range(count)))
                return time.perf_counter() - started

            try:
                return asyncio.run(run_all())
            finally:
                runtime.close()


def group_commit(sizes: Sizes) -> list[Figure]:
    count = sizes.async_instances
    bench = f"15. asyncio runtime, {count:,} instances of 10 steps at once, {ASYNC_THREADS} threads"
    events = count * 10
    sides: dict[str, Callable[[], float]] = {
        "group": partial(async_instances, count, ""),  # fitted: group commit by 32
        "plain": partial(async_instances, count, "&group_commit=0"),
        "raw10": partial(raw_throughput, count, 10),
    }
    seconds = rounds(sides, min(3, max(1, sizes.repeats)))

    def speed(side: str) -> float:
        return rate(events, statistics.median(seconds[side]))

    plain = figure(
        bench,
        "each append committed alone (?group_commit=0), a connection per thread",
        speed("plain"),
        "events/s",
        seconds["plain"],
    )
    raw10 = figure(
        bench,
        "raw batched, 10 INSERTs per COMMIT, 2 processes",
        speed("raw10"),
        "events/s",
        seconds["raw10"],
    )
    value, samples = speed("group"), seconds["group"]
    return [
        figure(bench, f"group commit (at most {ASYNC_THREADS} a transaction) vs alone", value,
               "events/s", samples, plain, speedup(seconds, "group", "plain")),
        figure(bench, "group commit vs raw batched by 10", value, "events/s", samples, raw10,
               speedup(seconds, "group", "raw10")),
        plain,
        raw10,
    ]  # fmt: skip


SUITES = [
    sequential_steps,
    throughput,
    replay,
    latency,
    interpreter,
    renderers,
    loops_and_flows,
    for_each_sections,
    claim_latency,
    replay_many,
    shielding,
    console_list,
    timers,
    stretch,
    group_commit,
]
