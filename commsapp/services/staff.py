"""Staff accounts: creation and changes, with the rules that keep the studio administrable."""

from sqlalchemy import func, select

from commsapp.extensions import db
from commsapp.models import Location, Role, StaffUser


class StaffError(ValueError):
    """A change that would leave staff accounts in a bad state; the message says why."""


def find_location(name_or_id: str) -> Location | None:
    value = name_or_id.strip()
    if value.isdigit():
        return db.session.get(Location, int(value))
    return db.session.scalar(select(Location).where(func.lower(Location.name) == value.lower()))


def email_taken(email: str, except_id: int | None = None) -> bool:
    stmt = select(StaffUser.id).where(StaffUser.email == email.strip().lower())
    if except_id is not None:
        stmt = stmt.where(StaffUser.id != except_id)
    return db.session.scalar(stmt) is not None


def create_staff(
    name: str,
    email: str,
    password: str,
    role: Role,
    location_id: int | None = None,
    language: str | None = None,
) -> StaffUser:
    email = email.strip().lower()
    if email_taken(email):
        raise StaffError(f"A staff account with the email {email} already exists.")
    user = StaffUser(
        name=name.strip(),
        email=email,
        role=role,
        location_id=location_id,
        language=language or None,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def update_staff(
    user: StaffUser,
    *,
    name: str,
    email: str,
    role: Role,
    location_id: int | None,
    language: str | None,
    active: bool,
    password: str | None,
) -> None:
    email = email.strip().lower()
    if email_taken(email, except_id=user.id):
        raise StaffError(f"A staff account with the email {email} already exists.")
    losing_admin = user.role == Role.ADMIN and (role != Role.ADMIN or not active)
    if losing_admin and _active_admin_count() <= 1:
        raise StaffError("This is the last active admin; make someone else admin first.")
    security_change = role != user.role or (password is not None) or (not active)
    user.name, user.email, user.role = name.strip(), email, role
    user.location_id, user.language, user.active = location_id, language or None, active
    if password:
        user.set_password(password)
    if security_change:
        user.session_version += 1


def _active_admin_count() -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(StaffUser)
        .where(StaffUser.role == Role.ADMIN, StaffUser.active.is_(True))
    )
