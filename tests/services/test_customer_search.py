"""Customer search, as the customer list and the inbox use it, on both databases' indexes."""

from sqlalchemy import select

from commsapp.models import Customer
from commsapp.services.customers import search_condition
from tests import factories


def _found(db, query: str) -> set[int]:
    return set(db.session.scalars(select(Customer.id).where(search_condition(query))))


def test_every_word_must_appear_in_name_email_or_mobile(db):
    anna = factories.customer(
        first_name="Anna", last_name="Schmidt", email="anna@tanz.example", mobile="+4915112345678"
    )
    ben = factories.customer(first_name="Ben", last_name="Schmidtke", email="ben@yoga.example")
    db.session.commit()
    assert _found(db, "schmidt") == {anna.id, ben.id}
    assert _found(db, "SCHMIDT anna") == {anna.id}
    assert _found(db, "tanz.example") == {anna.id}
    assert _found(db, "12345678") == {anna.id}
    assert _found(db, "an") == {anna.id}  # shorter than the index's trigrams
    assert _found(db, "schmidt nobody") == set()


def test_like_wildcards_in_a_search_are_taken_literally(db):
    underscore = factories.customer(email="kim_lee@studio.example")
    letter = factories.customer(email="kimxlee@studio.example")
    percent = factories.customer(last_name="Hundert%")
    db.session.commit()
    assert _found(db, "kim_lee") == {underscore.id}
    assert _found(db, "t%") == {percent.id}
    assert letter.id not in _found(db, "_lee")


def test_search_follows_renames_and_deletions(db):
    customer = factories.customer(first_name="Jana", last_name="Vogel")
    db.session.commit()
    assert _found(db, "vogel") == {customer.id}
    customer.last_name = "Fink"
    customer.email = "jana.fink@example.org"
    db.session.commit()
    assert _found(db, "vogel") == set()
    assert _found(db, "fink") == {customer.id}
    db.session.delete(customer)
    db.session.commit()
    assert _found(db, "fink") == set()
