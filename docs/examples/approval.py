"""A document approval: submitted by signal, reviewed by signal within three
days (escalated to the editor when a review is late), revised until approved,
checkpointed once approved, and published with retries.

The services below stand in for real ones and remember what they did.
"""

from __future__ import annotations

from datetime import timedelta

from attrs import evolve, frozen

from wio import WIO, RetryPolicy, Signal, Workflow


@frozen
class Request:
    document_id: str
    author: str


@frozen
class Document:
    document_id: str
    author: str
    title: str = ""
    revision: int = 0
    status: str = "draft"  # submitted | changes requested | escalated | approved | published
    reviewer: str | None = None
    comments: str = ""
    url: str | None = None


# -- signals ------------------------------------------------------------------------


@frozen
class Submission:
    title: str


@frozen
class Verdict:
    reviewer: str
    approve: bool
    comments: str = ""


@frozen
class Receipt:
    document_id: str
    status: str


submit = Signal("Submit", request=Submission, response=Receipt)
review = Signal("Review", request=Verdict, response=Receipt)

# -- events -------------------------------------------------------------------------


@frozen
class Submitted:
    title: str


@frozen
class Reviewed:
    reviewer: str
    approve: bool
    comments: str


@frozen
class Escalated:
    to: str


@frozen
class Revised:
    revision: int


@frozen
class Approved:
    """The checkpoint: all that later versions need from the approval rounds."""

    title: str
    reviewer: str
    revision: int


@frozen
class Published:
    url: str


# -- stand-ins for real services --------------------------------------------------------

side_effects: list[str] = []


def file_submission(request: Request, submission: Submission) -> Submitted:
    side_effects.append(f"filed {request.document_id}")
    return Submitted(submission.title)


def record_verdict(document: Document, verdict: Verdict) -> Reviewed:
    side_effects.append(f"{verdict.reviewer} reviewed {document.document_id}")
    return Reviewed(verdict.reviewer, verdict.approve, verdict.comments)


def notify_editor(document: Document) -> Escalated:
    side_effects.append(f"escalated {document.document_id}")
    return Escalated("the editor")


def ask_author(document: Document) -> Revised:
    side_effects.append(f"revision {document.revision + 1} of {document.document_id}")
    return Revised(document.revision + 1)


def upload(document: Document) -> Published:
    side_effects.append(f"published {document.document_id}")
    return Published(f"https://docs.example.com/{document.document_id}")


# -- the workflow ------------------------------------------------------------------------


def to_document(request: Request, event: Submitted) -> Document:
    return Document(request.document_id, request.author, event.title, status="submitted")


submission = WIO.handle_signal(
    submit,
    file_submission,
    to_document,
    lambda request, event, submission: Receipt(request.document_id, "submitted"),
).named("Submission")


def apply_verdict(document: Document, event: Reviewed) -> Document:
    status = "approved" if event.approve else "changes requested"
    return evolve(document, status=status, reviewer=event.reviewer, comments=event.comments)


review_round = (
    WIO.handle_signal(
        review,
        record_verdict,
        apply_verdict,
        lambda document, event, verdict: Receipt(
            document.document_id, "approved" if verdict.approve else "changes requested"
        ),
    )
    .named("Review")
    .timeout(
        timedelta(days=3),
        name="Three Days",
        then=WIO.run(
            notify_editor, lambda d, e: evolve(d, status="escalated", reviewer=e.to)
        ).named("Escalate"),
    )
)

revise = WIO.run(ask_author, lambda d, e: evolve(d, revision=e.revision, status="submitted"))


def save_approval(document: Document, approved: Document) -> Approved:
    return Approved(approved.title, approved.reviewer or "", approved.revision)


def restore_approval(document: Document, event: Approved) -> Document:
    return evolve(
        document,
        title=event.title,
        reviewer=event.reviewer,
        revision=event.revision,
        status="approved",
    )


approval = (
    WIO.repeat(review_round)
    .until(
        lambda d: d.status == "approved",
        name="Approved?",
        exit="Approved",
        restart="Not Yet",
        on_restart=revise.named("Revise"),
    )
    .checkpointed(save_approval, restore_approval)
)

publish = WIO.run(
    upload,
    lambda d, e: evolve(d, status="published", url=e.url),
    retry=RetryPolicy(max_attempts=5, initial_delay=30, multiplier=2),
).named("Publish")

workflow = Workflow(submission >> approval >> publish, name="approval", input_type=Request)
