"""One package per area of the UI; `register_blueprints` mounts them all."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from commsapp.blueprints.auth.routes import bp as auth_bp
    from commsapp.blueprints.courses.routes import bp as courses_bp
    from commsapp.blueprints.customers.routes import bp as customers_bp
    from commsapp.blueprints.inbox.routes import bp as inbox_bp
    from commsapp.blueprints.placeholders.routes import register_placeholders
    from commsapp.blueprints.public.routes import bp as public_bp
    from commsapp.blueprints.segments.routes import bp as segments_bp
    from commsapp.blueprints.settings.routes import bp as settings_bp
    from commsapp.blueprints.sms.routes import bp as sms_bp
    from commsapp.blueprints.sms_settings.routes import bp as sms_settings_bp
    from commsapp.blueprints.templates.routes import bp as templates_bp
    from commsapp.blueprints.webhooks.routes import bp as webhooks_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(inbox_bp)
    app.register_blueprint(customers_bp)
    app.register_blueprint(courses_bp)
    app.register_blueprint(settings_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(segments_bp)
    app.register_blueprint(sms_bp)
    app.register_blueprint(sms_settings_bp)
    app.register_blueprint(templates_bp)
    app.register_blueprint(webhooks_bp)
    register_placeholders(app)
