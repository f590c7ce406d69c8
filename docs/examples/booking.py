"""A trip booking that undoes itself: flight, hotel and car, compensated in reverse.

Each booking step says how to undo it (`compensate_with`); the three run in a
`compensating` section. When the car cannot be booked (a business error),
the section undoes what it did, newest first: the hotel is cancelled, then the
flight; then the error goes on to the handler, which reports the trip failed.

Each cancellation is a step of its own, journaled and retried like any other.
It runs at least once, and again if a worker crashes while it runs, so it
must be idempotent: cancelling twice must cancel once (the "services" below
check the reference they are given).
"""

from __future__ import annotations

from typing import Never

from attrs import frozen

from wio import WIO, Err, Workflow


@frozen
class Trip:
    trip_id: str
    city: str


@frozen
class NoCars:
    city: str


@frozen
class Booked:
    reference: str


@frozen
class CarAnswer:
    reference: str | None  # None: no car available


@frozen
class Cancelled:
    reference: str


side_effects: list[str] = []
bookings: set[str] = set()  # what the "services" hold right now
cities_without_cars: set[str] = set()


def book_flight(trip: Trip) -> Booked:
    side_effects.append(f"book flight {trip.trip_id}")
    bookings.add(f"flight-{trip.trip_id}")
    return Booked(f"flight-{trip.trip_id}")


def book_hotel(trip: Trip) -> Booked:
    side_effects.append(f"book hotel {trip.trip_id}")
    bookings.add(f"hotel-{trip.trip_id}")
    return Booked(f"hotel-{trip.trip_id}")


def book_car(trip: Trip) -> CarAnswer:
    side_effects.append(f"book car {trip.trip_id}")
    if trip.city in cities_without_cars:
        return CarAnswer(None)
    bookings.add(f"car-{trip.trip_id}")
    return CarAnswer(f"car-{trip.trip_id}")


def cancel(done: tuple[Trip, Booked]) -> Cancelled:
    """Undo a booking: ``done`` is the booking step's (input, output). Idempotent:
    cancelling a reference that is already gone changes nothing."""
    reference = done[1].reference
    side_effects.append(f"cancel {reference}")
    bookings.discard(reference)
    return Cancelled(reference)


def booked(trip: Trip, event: Booked) -> Booked:
    return event


def car_booked(trip: Trip, event: CarAnswer) -> Booked | Err[NoCars]:
    return Booked(event.reference) if event.reference else Err(NoCars(trip.city))


def cancelled(done: tuple[Trip, Booked], event: Cancelled) -> Cancelled:
    return event


def undo(what: str) -> WIO[tuple[Trip, Booked], Never, Cancelled]:
    return WIO.run(cancel, cancelled).named(f"Cancel {what}")


def same_trip(trip: Trip) -> Trip:
    return trip


def trip_again(trip: Trip, _booked: Booked) -> Trip:
    return trip


def step(what: str, booking: WIO[Trip, NoCars, Booked]) -> WIO[Trip, NoCars, Trip]:
    """Book ``what``, undoable, then pass the trip on (the next booking needs it)."""
    undoable = booking.named(f"Book {what}").compensate_with(undo(what))
    return undoable.transform(same_trip, trip_again)


trip_booking = (
    step("Flight", WIO.run(book_flight, booked))
    >> step("Hotel", WIO.run(book_hotel, booked))
    >> step("Car", WIO.run(book_car, car_booked, error=NoCars))
).compensating()


def report_failure(failed: tuple[object, NoCars]) -> str:
    return f"failed: no car in {failed[1].city}"


workflow = Workflow(
    trip_booking.map(lambda trip: f"booked {trip.trip_id}").handle_error_with(
        WIO.pure_from(report_failure).named("Report Failure"), error=NoCars
    ),
    name="booking",
    input_type=Trip,
)
