"""A workflow for racing workers: each step logs when it begins and ends, and the
middle step fails a set number of times before it succeeds.

Lines go to ``$WIO_EFFECTS_LOG`` as "<begin|end> <pid> <time> <step> <job>", so
a test can count each step's runs and check that no two overlap. The flaky
step counts its earlier runs in that log: a job with ``failures`` of
``max_attempts`` or more fails for good.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attrs import frozen

from wio import WIO
from wio.definition import Workflow
from wio.retry import RetryPolicy

MAX_ATTEMPTS = 4
LOG = Path(os.environ.get("WIO_EFFECTS_LOG", "racing.log"))


@frozen
class Job:
    job_id: str
    failures: int  # how many times the flaky step fails before it succeeds


@frozen
class Prepared:
    job_id: str


@frozen
class Flaked:
    attempt: int


@frozen
class Finished:
    job_id: str


@contextmanager
def running(step: str, job: Job) -> Iterator[None]:
    _log("begin", step, job)
    try:
        yield
    finally:
        _log("end", step, job)


def _log(what: str, step: str, job: Job) -> None:
    with LOG.open("a") as log:
        log.write(f"{what} {os.getpid()} {time.time():.6f} {step} {job.job_id}\n")


def prepare(job: Job) -> Prepared:
    with running("prepare", job):
        time.sleep(0.002)
        return Prepared(job.job_id)


def flaky(job: Job) -> Flaked:
    with running("flaky", job):
        earlier = sum(
            1
            for line in LOG.read_text().splitlines()
            if line.startswith("begin") and line.endswith(f" flaky {job.job_id}")
        )
        if earlier <= job.failures:  # this run's own begin is counted
            raise ConnectionError(f"{job.job_id}: attempt {earlier} fails")
        return Flaked(earlier)


def finish(job: Job) -> Finished:
    with running("finish", job):
        return Finished(job.job_id)


workflow = Workflow(
    WIO.run(prepare, lambda job, _: job).named("Prepare")
    >> WIO.run(flaky, lambda job, _: job).named("Flaky")
    >> WIO.run(finish, lambda job, _: job).named("Finish"),
    name="racing",
    input_type=Job,
    retry=RetryPolicy(max_attempts=MAX_ATTEMPTS, initial_delay=0.02, multiplier=1),
)
