"""What every page shares: rendering full pages or htmx fragments, error pages, navigation."""

from typing import Any

from flask import Flask, Response, make_response, render_template, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from commsapp.extensions import htmx

NAV = (
    ("inbox.index", _l("Inbox")),
    ("customers.index", _l("Customers")),
    ("courses.index", _l("Courses")),
    ("segments.index", _l("Segments")),
    ("templates.index", _l("Templates")),
    ("groups.index", _l("Groups")),
    ("notifications.index", _l("Notifications")),
    ("settings.index", _l("Settings")),
)


def render_page(
    page_template: str,
    fragment_template: str | None = None,
    /,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    """The full page on a normal request, only the fragment when htmx asks for it."""
    template = (
        fragment_template if (fragment_template and htmx and not htmx.boosted) else page_template
    )
    response = make_response(render_template(template, **context), status)
    response.headers["Vary"] = "HX-Request"
    return response


def _visible_nav() -> list[tuple[str, str]]:
    from flask import current_app

    if not current_user.is_authenticated:
        return []
    items = []
    for endpoint, label in NAV:
        view = current_app.view_functions.get(endpoint)
        if view is not None and current_user.role in getattr(view, "access_roles", ()):
            items.append((endpoint, label))
    return items


def init_app(app: Flask) -> None:
    @app.context_processor
    def navigation() -> dict[str, Any]:
        return {"nav_items": _visible_nav(), "get_locale": get_locale}

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        message = _l(
            "The form had expired or was not sent from this site. Reload the page and try again."
        )
        return _error_response(400, str(message))

    @app.errorhandler(RequestEntityTooLarge)
    def upload_too_large(error: RequestEntityTooLarge):
        return _error_response(
            413, str(_l("The upload is larger than 2 MB, the largest file accepted."))
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _error_response(error.code or 500, error.description)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


ERROR_TITLES = {
    400: _l("The request could not be understood"),
    403: _l("You do not have access to this page"),
    404: _l("Not found"),
    405: _l("That action is not allowed here"),
    409: _l("Conflict"),
    413: _l("That upload is too large"),
    429: _l("Too many attempts"),
}


def _error_response(code: int, description: str | None) -> Response:
    title = ERROR_TITLES.get(code, _l("Something went wrong"))
    if htmx or request.accept_mimetypes.best == "application/json":
        response = make_response(f"{title}: {description}" if description else str(title), code)
        response.mimetype = "text/plain"
        return response
    return make_response(
        render_template("error.html", code=code, title=title, description=description), code
    )
