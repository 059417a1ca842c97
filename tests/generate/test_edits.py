"""Edits of the user's files: made at one place found for sure, or refused with the line to add."""

from __future__ import annotations

import pytest

from webkit_cli.generate.edits import Edit, apply_edit
from webkit_cli.generate.fields import GenerateError

FACTORY = '''\
"""The app."""

from __future__ import annotations

from flask import Flask

from . import auth, db, views
from .config import load_settings


def create_app() -> Flask:
    app = Flask(__name__)
    app.register_blueprint(auth.bp)
    app.register_blueprint(
        views.bp,
        url_prefix="/",
    )
    return app
'''


def imported(name: str) -> Edit:
    return Edit("app.py", "imports it", "import", f"from . import {name}")


def registered(name: str) -> Edit:
    return Edit(
        "app.py", "registers it", "after", f"app.register_blueprint({name}.bp)",
        r"^\s*app\.register_blueprint\(",
    )  # fmt: skip


def test_an_import_joins_the_existing_statement_in_order() -> None:
    text, applied = apply_edit(FACTORY, imported("posts"))
    assert "from . import auth, db, posts, views\n" in text
    assert applied is not None and applied.added == ("from . import auth, db, posts, views",)
    assert text.count("from . import") == 1


def test_a_long_import_is_wrapped_as_ruff_format_wraps_it() -> None:
    source = "from . import " + ", ".join(f"module_{i:02}" for i in range(9)) + "\n"
    text, _ = apply_edit(source, imported("zebra"))
    assert text.startswith("from . import (\n    module_00,\n")
    assert text.endswith("    zebra,\n)\n")


def test_an_import_without_a_statement_to_join_gets_its_own_line() -> None:
    source = "from flask import Flask\n\napp = Flask(__name__)\n"
    text, _ = apply_edit(source, imported("posts"))
    assert text == "from flask import Flask\nfrom . import posts\n\napp = Flask(__name__)\n"


#: The 1.3.0 templates' factory: the project's modules are imported inside it.
LAZY_FACTORY = """\
from flask import Flask

from .extensions import csrf


def create_app() -> Flask:
    from . import auth, db, views
    from .config import load_settings

    app = Flask(__name__)
    app.register_blueprint(views.bp)
    return app
"""


def into_factory(name: str) -> Edit:
    return Edit("app.py", "imports it", "import", f"from . import {name}", within="create_app")


def test_an_import_joins_the_factorys_own_import_statement() -> None:
    text, applied = apply_edit(LAZY_FACTORY, into_factory("posts"))
    assert "\n    from . import auth, db, posts, views\n" in text
    assert applied is not None and applied.added == ("    from . import auth, db, posts, views",)
    assert text.count("from . import") == 1
    # Already there: nothing to do.
    assert apply_edit(text, into_factory("posts")) == (text, None)


def test_a_long_import_in_the_factory_is_wrapped_at_its_indent() -> None:
    names = ", ".join(f"module_{i:02}" for i in range(9))
    source = f"def create_app():\n    from . import {names}\n    return 1\n"
    text, _ = apply_edit(source, into_factory("zebra"))
    assert text.startswith("def create_app():\n    from . import (\n        module_00,\n")
    assert text.endswith("        zebra,\n    )\n    return 1\n")
    compile(text, "app.py", "exec")


def test_a_factory_that_imports_nothing_of_the_project_gets_the_import_on_top() -> None:
    # A project made before 1.3.0 imports its modules at the top of the file.
    text, _ = apply_edit(FACTORY, into_factory("posts"))
    assert "\nfrom . import auth, db, posts, views\n" in text
    assert text.count("from . import") == 1


def test_a_line_goes_after_the_whole_last_matching_statement_with_its_indent() -> None:
    text, applied = apply_edit(FACTORY, registered("posts"))
    lines = text.splitlines()
    i = lines.index('        url_prefix="/",')
    assert lines[i + 1 : i + 3] == ["    )", "    app.register_blueprint(posts.bp)"]
    assert applied is not None


def test_an_edit_already_made_is_not_made_twice() -> None:
    text, _ = apply_edit(FACTORY, registered("posts"))
    again, applied = apply_edit(text, registered("posts"))
    assert applied is None and again == text


def test_before_a_marker() -> None:
    source = "<ul>\n  <li>Home</li>\n  {# marker #}\n</ul>\n"
    edit = Edit("base.html", "links it", "before", "<li>Posts</li>", ("marker", "</ul>"))
    text, _ = apply_edit(source, edit)
    assert text == "<ul>\n  <li>Home</li>\n  <li>Posts</li>\n  {# marker #}\n</ul>\n"


def test_a_missing_place_says_which_line_to_add_and_that_nothing_was_written() -> None:
    rewritten = FACTORY.replace("app.register_blueprint", "register")
    with pytest.raises(GenerateError) as info:
        apply_edit(rewritten, registered("posts"))
    message = info.value.format_message()
    assert "Cannot find where to edit app.py (registers it)" in message
    assert "Add `app.register_blueprint(posts.bp)`" in message
    assert "Nothing was written." in message


def test_an_import_edit_of_a_file_that_does_not_parse_is_refused() -> None:
    with pytest.raises(GenerateError, match="does not parse"):
        apply_edit("from . import (\n", imported("posts"))
