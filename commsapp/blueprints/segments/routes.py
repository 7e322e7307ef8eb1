"""Customer segments: the builder with its live count, saved segments, their tabs and order."""

import json

from flask import Blueprint, abort, current_app, flash, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from commsapp.access import STAFF_ROLES, course_scope, customer_scope, roles
from commsapp.blueprints.segments.forms import apply_action, tree_from_form
from commsapp.extensions import db
from commsapp.models import (
    ClassTemplate,
    ClassType,
    Course,
    Customer,
    Location,
    Product,
    RecurringSeries,
    Segment,
    Tag,
)
from commsapp.services import segments
from commsapp.services.customers import MAX_SEARCH_LENGTH, list_customers
from commsapp.services.segments import SegmentError, SegmentInUse
from commsapp.views_support import render_page

bp = Blueprint("segments", __name__, url_prefix="/segments")
PREVIEW_PAGE = 20

CONDITION_TYPES = (
    ("tag", _l("Customer tag")),
    ("visits", _l("Visits (attended classes)")),
    ("visit_count", _l("Number of visits in the last days")),
    ("no_visit_since", _l("No visit since (lapsed)")),
    ("product", _l("Membership or package")),
    ("first_visit", _l("First visit within the last days")),
    ("created", _l("Became a customer within the last days")),
    ("home_location", _l("Home location")),
    ("contact", _l("Email address or mobile number")),
    ("consent", _l("Consent to a message type")),
)
BLANK_TREE = {"match": "all", "conditions": [{"type": ""}]}


def _options() -> dict:
    """The choices the builder offers; courses only of the staff member's location."""

    def pairs(stmt):
        return [(row[0], row[1]) for row in db.session.execute(stmt)]

    return {
        "condition_types": CONDITION_TYPES,
        "tags": pairs(select(Tag.id, Tag.name).order_by(Tag.name)),
        "visit_sources": {
            "class_type": pairs(select(ClassType.id, ClassType.name).order_by(ClassType.name)),
            "course": pairs(
                select(Course.id, Course.name)
                .where(course_scope(current_user))
                .order_by(Course.name, Course.id)
            ),
            "template": pairs(
                select(ClassTemplate.id, ClassTemplate.name).order_by(ClassTemplate.name)
            ),
            "series": pairs(
                select(RecurringSeries.id, RecurringSeries.name).order_by(RecurringSeries.name)
            ),
        },
        "products": pairs(select(Product.id, Product.name).order_by(Product.name)),
        "locations": pairs(select(Location.id, Location.name).order_by(Location.name)),
    }


def _segment_or_404(segment_id: int) -> Segment:
    return db.session.get(Segment, segment_id) or abort(404)


def _posted_tree() -> dict:
    """:raise 400: mangled field names or JSON (not something the builder can produce)."""
    try:
        return tree_from_form(request.form)
    except SegmentError as exc:
        abort(400, description=str(exc))


@bp.route("")
@roles(*STAFF_ROLES)
def index():
    return render_page("segments/index.html", saved=segments.list_segments())


@bp.route("/new", methods=["GET", "POST"])
@roles(*STAFF_ROLES)
def new():
    """The builder for a new segment; saving it adds a tab to the customer list and the inbox.

    :raise 400: a tampered or unknown condition (the message names it).
    """
    if request.method == "POST":
        return _save(None)
    return _builder_page(None, BLANK_TREE)


@bp.route("/<int:segment_id>/edit", methods=["GET", "POST"])
@roles(*STAFF_ROLES)
def edit(segment_id: int):
    """:raise 404: unknown segment; :raise 400: a tampered or unknown condition."""
    segment = _segment_or_404(segment_id)
    if request.method == "POST":
        return _save(segment)
    try:
        tree = segments.definition_of(segment)
    except SegmentError as exc:
        flash(str(exc), "error")
        tree = BLANK_TREE
    return _builder_page(segment, tree)


def _builder_page(segment: Segment | None, tree: dict, error: str = "", status: int = 200):
    name = request.form.get("name", segment.name if segment else "")
    return render_page(
        "segments/builder.html",
        segment=segment,
        tree=tree,
        name=name,
        error=error,
        status=status,
        **_options(),
    )


def _save(segment: Segment | None):
    tree = _posted_tree()
    name = request.form.get("name", "")
    try:
        if segment is None:
            segment = segments.create_segment(name, tree, current_user.id)
        else:
            segments.update_segment(segment, name, tree)
        db.session.commit()
    except SegmentError as exc:
        db.session.rollback()
        if not exc.incomplete:
            abort(400, description=str(exc))
        return _builder_page(segment, tree, str(exc), 422)
    except IntegrityError:
        db.session.rollback()
        return _builder_page(
            segment, tree, _("A segment called '%(name)s' exists already.", name=name), 422
        )
    flash(_("Segment “%(name)s” saved.", name=segment.name), "success")
    return redirect(url_for("segments.members", segment_id=segment.id))


@bp.route("/builder", methods=["POST"])
@roles(*STAFF_ROLES)
def builder():
    """The builder re-rendered after adding, removing or changing a condition (htmx).

    :raise 400: mangled fields or an action on a condition that does not exist.
    """
    try:
        tree = apply_action(_posted_tree(), request.form.get("action", ""))
    except SegmentError as exc:
        abort(400, description=str(exc))
    response = render_page(
        "segments/_builder.html", "segments/_builder.html", tree=tree, **_options()
    )
    # The count beside the builder listens for this and refreshes itself.
    response.headers["HX-Trigger-After-Settle"] = "segments:changed"
    return response


@bp.route("/preview", methods=["POST"])
@roles(*STAFF_ROLES)
def preview():
    """The live count and first page of matching customers for the posted (unsaved) tree.

    An unfinished condition answers with a hint; a tampered one with 400 naming it.
    """
    tree = _posted_tree()
    try:
        definition = segments.validate(tree)
    except SegmentError as exc:
        if not exc.incomplete:
            abort(400, description=str(exc))
        return render_page("segments/_preview.html", "segments/_preview.html", hint=str(exc))
    result = segments.preview(definition, customer_scope(current_user), PREVIEW_PAGE)
    return render_page("segments/_preview.html", "segments/_preview.html", result=result)


@bp.route("/<int:segment_id>")
@roles(*STAFF_ROLES)
def members(segment_id: int):
    """The segment's customers (the segment's tab on the customer list), searchable, paged.

    :raise 404: unknown segment.
    """
    segment = _segment_or_404(segment_id)
    query = request.args.get("q", "")[:MAX_SEARCH_LENGTH]
    after = request.args.get("after", type=int)
    scope = customer_scope(current_user)
    try:
        definition = segments.definition_of(segment)
    except SegmentError as exc:
        return render_page("segments/members.html", segment=segment, error=str(exc), q=query)
    members_only = Customer.id.in_(segments.ids_subquery(definition, scope, materialized=True))
    page = list_customers(members_only, query, after, current_app.config["PAGE_SIZE"])
    # The customer list's own rows, with "load more" pointing back here.
    rows = {"more_endpoint": "segments.members", "more_args": {"segment_id": segment.id}}
    if after:
        return render_page(
            "segments/members.html",
            "customers/_rows.html",
            segment=segment,
            page=page,
            q=query,
            **rows,
        )
    return render_page(
        "segments/members.html",
        "customers/_list.html",
        segment=segment,
        page=page,
        q=query,
        count=segments.count_customers(definition, scope),
        **rows,
    )


@bp.route("/<int:segment_id>/rename", methods=["POST"])
@roles(*STAFF_ROLES)
def rename(segment_id: int):
    """:raise 404: unknown segment."""
    segment = _segment_or_404(segment_id)
    try:
        segments.rename_segment(segment, request.form.get("name", ""))
        db.session.commit()
    except (SegmentError, IntegrityError) as exc:
        db.session.rollback()
        message = str(exc) if isinstance(exc, SegmentError) else _("That name is taken.")
        return render_page(
            "segments/index.html", saved=segments.list_segments(), error=message, status=422
        )
    flash(_("Segment renamed to “%(name)s”.", name=segment.name), "success")
    return redirect(url_for("segments.index"))


@bp.route("/<int:segment_id>/duplicate", methods=["POST"])
@roles(*STAFF_ROLES)
def duplicate(segment_id: int):
    """:raise 404: unknown segment."""
    copy = segments.duplicate_segment(_segment_or_404(segment_id), current_user.id)
    db.session.commit()
    flash(_("Copied as “%(name)s”.", name=copy.name), "success")
    return redirect(url_for("segments.edit", segment_id=copy.id))


@bp.route("/<int:segment_id>/delete", methods=["POST"])
@roles(*STAFF_ROLES)
def delete(segment_id: int):
    """Delete a segment unless a scheduled send still needs it (409 saying which).

    :raise 404: unknown segment.
    """
    segment = _segment_or_404(segment_id)
    name = segment.name
    try:
        segments.delete_segment(segment)
        db.session.commit()
    except SegmentInUse as exc:
        db.session.rollback()
        return render_page(
            "segments/index.html", saved=segments.list_segments(), error=str(exc), status=409
        )
    flash(_("Segment “%(name)s” deleted.", name=name), "success")
    return redirect(url_for("segments.index"))


@bp.route("/order", methods=["POST"])
@roles(*STAFF_ROLES)
def reorder():
    """Store the tab order posted by drag and drop (`order=3,1,2`).

    :raise 400: not a list of ids, or not exactly the saved segments (a stale page).
    """
    try:
        ids = [int(part) for part in request.form.get("order", "").split(",") if part.strip()]
        segments.reorder_segments(ids)
    except (ValueError, SegmentError) as exc:
        db.session.rollback()
        message = str(exc) if isinstance(exc, SegmentError) else _("The order is not valid.")
        abort(400, description=message)
    db.session.commit()
    response = make_response("", 204)
    response.headers["HX-Trigger"] = json.dumps({"toast": _("Order saved.")})
    return response


@bp.app_template_global()
def saved_segments() -> list[Segment]:
    """The saved segments in tab order, for the tabs on the customer list and the inbox."""
    return segments.list_segments()


@bp.app_template_global()
def segments_of_customer(customer_id: int) -> list[Segment]:
    """The saved segments a customer is in, for their profile."""
    return segments.segments_containing(customer_id)
