{#- The package's __init__.py: create_app(), written once for site and ajax, whose
    __init__.py.jinja call it with what they add (their modules, blueprints and a note on
    CSRF). `webkit generate resource` adds its module to the `from . import` line. -#}
{%- set modules = ["auth", "cli", "db", "errors", "input_guard", "limits", "security", "welcome"] %}
{%- macro app_factory(summary, blueprints, csrf_note="") -%}
"""{{ name }}: {{ summary }}

``create_app()`` is the application factory that ``webkit run``, ``flask run``
and gunicorn (``gunicorn '{{ package }}:create_app()'``) call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment, then ``config`` on top (tests use it)."""
    # The project's own modules are imported here, not at the top (Flask's tutorial does
    # the same): importing the package then loads none of them, so `webkit run --reload`
    # keeps the modules you did not change loaded, and a save re-imports the file you
    # saved (and what imports it) instead of the whole project.
    from . import {{ (modules + blueprints) | sort | join(", ") }}
    from .config import finalize_settings, load_settings

    # INSTANCE_PATH lets a container put the SQLite file on a writable volume.
    instance_path = os.environ.get("INSTANCE_PATH") or None
    app = Flask(
        __name__,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
    )
    app.config["SITE_NAME"] = {{ name | tojson }}
    app.config.update(load_settings(os.environ))
    if config:
        app.config.update(config)
    finalize_settings(app.config, overrides=config or {})

{{ csrf_note }}    # First: the guards read a chunked body before anything else (CSRF) reads the form.
    input_guard.init_app(app)
    csrf.init_app(app)
    db.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    limits.init_app(app)
    auth.init_app(app)
    cli.init_app(app)
    welcome.init_app(app)  # development only: the home page's welcome
{%- for blueprint in blueprints %}
    app.register_blueprint({{ blueprint }}.bp)
{%- endfor %}
    return app
{%- endmacro %}
