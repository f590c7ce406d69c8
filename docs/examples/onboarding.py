"""Onboarding embeds a reusable KYC ("know your customer") workflow, twice.

The KYC workflow is an ordinary definition of its own. `WIO.embed` runs it
inline, in the onboarding instance and its journal, once for the applicant
and once for the guarantor: each embedding sits at its own place in the
model, so their timers and events never mix up.

The "services" below stand in for real ones and remember what they did.
"""

from __future__ import annotations

from datetime import timedelta

from attrs import frozen

from wio import WIO, Err, Workflow


@frozen
class Person:
    name: str
    passport: str


@frozen
class Application:
    applicant: Person
    guarantor: Person


@frozen
class Rejected:
    name: str


@frozen
class IdentityChecked:
    name: str
    verified: bool


@frozen
class AccountOpened:
    number: str


side_effects: list[str] = []
forged: set[str] = set()


def check_identity(person: Person) -> IdentityChecked:
    side_effects.append(f"check {person.name}")
    return IdentityChecked(person.name, person.passport not in forged)


def verified(person: Person, event: IdentityChecked) -> str | Err[Rejected]:
    return event.name if event.verified else Err(Rejected(event.name))


kyc = Workflow(
    WIO.run(check_identity, verified, error=Rejected).named("Check Identity")
    >> WIO.await_for(timedelta(hours=1), name="Cooling Off"),
    name="KYC",
    input_type=Person,
)


def open_account(application: Application) -> AccountOpened:
    side_effects.append(f"open {application.applicant.name}")
    return AccountOpened(f"acc-{application.applicant.passport}")


def reject(failed: tuple[object, Rejected]) -> str:
    return f"rejected: {failed[1].name}"


onboarding = (
    WIO.embed(kyc, input=lambda a: a.applicant, output=lambda a, name: a, name="KYC Applicant")
    >> WIO.embed(kyc, input=lambda a: a.guarantor, output=lambda a, name: a, name="KYC Guarantor")
    >> WIO.run(open_account, lambda a, e: e.number).named("Open Account")
).handle_error_with(WIO.pure_from(reject).named("Reject"), error=Rejected)

workflow = Workflow(onboarding, name="onboarding", input_type=Application)
