"""The merge matrix: every case a file can be in, with the exact result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

import pytest

from webkit_cli.update.merge import LineMerger, Outcome, find_renames, merge_file, merge_trees

P = PurePosixPath("f.txt")
BASE = b"one\ntwo\nthree\nfour\nfive\n"


@pytest.fixture
def merger() -> Iterator[LineMerger]:
    m = LineMerger(ours_label="project", base_label="template 1.0.0", theirs_label="template 2.0.0")
    yield m
    m.close()


def test_untouched_by_both_is_unchanged(merger: LineMerger) -> None:
    change = merge_file(P, BASE, BASE, BASE, merger)
    assert change.outcome is Outcome.UNCHANGED
    assert not change.writes


def test_changed_by_the_user_only_keeps_the_users(merger: LineMerger) -> None:
    ours = BASE.replace(b"two", b"TWO")
    change = merge_file(P, BASE, ours, BASE, merger)
    assert change.outcome is Outcome.KEPT
    assert change.data == ours
    assert not change.writes


def test_changed_by_the_template_only_takes_the_new_version(merger: LineMerger) -> None:
    theirs = BASE + b"six\n"
    change = merge_file(P, BASE, BASE, theirs, merger)
    assert change.outcome is Outcome.UPDATED
    assert change.data == theirs


def test_both_changed_apart_merge_cleanly(merger: LineMerger) -> None:
    ours = BASE.replace(b"one", b"ONE")
    theirs = BASE.replace(b"five", b"FIVE")
    change = merge_file(P, BASE, ours, theirs, merger)
    assert change.outcome is Outcome.MERGED
    assert change.data == b"ONE\ntwo\nthree\nfour\nFIVE\n"


def test_both_changed_the_same_line_conflicts_with_gits_markers(merger: LineMerger) -> None:
    ours = BASE.replace(b"three", b"mine")
    theirs = BASE.replace(b"three", b"theirs")
    change = merge_file(P, BASE, ours, theirs, merger)
    assert change.outcome is Outcome.CONFLICT
    assert change.data == (
        b"one\ntwo\n<<<<<<< project\nmine\n=======\ntheirs\n>>>>>>> template 2.0.0\nfour\nfive\n"
    )
    # The three versions git's index records for the conflict.
    assert (change.base, change.ours, change.theirs) == (BASE, ours, theirs)


def test_both_made_the_same_change_is_unchanged(merger: LineMerger) -> None:
    same = BASE.replace(b"two", b"2")
    assert merge_file(P, BASE, same, same, merger).outcome is Outcome.UNCHANGED


def test_rej_style_keeps_the_projects_lines_and_writes_the_rejected_hunk(
    merger: LineMerger,
) -> None:
    ours = BASE.replace(b"three", b"mine").replace(b"one", b"ONE")
    theirs = BASE.replace(b"three", b"theirs").replace(b"five", b"FIVE")
    change = merge_file(P, BASE, ours, theirs, merger, conflict_style="rej")
    assert change.outcome is Outcome.CONFLICT
    # The clean hunk (FIVE) is applied, the conflicting one keeps the project's line.
    assert change.data == b"ONE\ntwo\nmine\nfour\nFIVE\n"
    assert change.reject is not None
    assert b"-mine\n+theirs\n" in change.reject
    assert b"<<<<<<<" not in change.data


def test_added_by_the_template(merger: LineMerger) -> None:
    change = merge_file(P, None, None, b"new\n", merger)
    assert change.outcome is Outcome.ADDED
    assert change.data == b"new\n"


def test_removed_by_the_template_and_untouched_is_removed(merger: LineMerger) -> None:
    change = merge_file(P, BASE, BASE, None, merger)
    assert change.outcome is Outcome.REMOVED
    assert change.data is None
    assert change.writes


def test_removed_by_the_template_but_changed_locally_is_kept(merger: LineMerger) -> None:
    ours = BASE + b"mine\n"
    change = merge_file(P, BASE, ours, None, merger)
    assert change.outcome is Outcome.KEPT_REMOVED
    assert change.data == ours
    assert not change.writes


def test_removed_locally_stays_removed_when_the_template_did_not_change_it(
    merger: LineMerger,
) -> None:
    change = merge_file(P, BASE, None, BASE, merger)
    assert change.outcome is Outcome.KEPT
    assert change.data is None


def test_removed_locally_and_changed_by_the_template_is_a_conflict(merger: LineMerger) -> None:
    theirs = BASE + b"six\n"
    change = merge_file(P, BASE, None, theirs, merger)
    assert change.outcome is Outcome.CONFLICT
    assert change.data == theirs  # git's modify/delete: the changed side is written back


def test_added_on_both_sides_differently_is_a_conflict(merger: LineMerger) -> None:
    change = merge_file(P, None, b"mine\n", b"theirs\n", merger)
    assert change.outcome is Outcome.CONFLICT
    assert change.data == b"<<<<<<< project\nmine\n=======\ntheirs\n>>>>>>> template 2.0.0\n"


def test_binary_changed_on_both_sides_keeps_the_projects(merger: LineMerger) -> None:
    base, ours, theirs = b"\x89PNG\0base", b"\x89PNG\0ours", b"\x89PNG\0theirs"
    change = merge_file(P, base, ours, theirs, merger)
    assert change.outcome is Outcome.CONFLICT
    assert change.data == ours
    assert change.reject == theirs


def test_binary_changed_by_the_template_only_is_replaced(merger: LineMerger) -> None:
    change = merge_file(P, b"\0old", b"\0old", b"\0new", merger)
    assert change.outcome is Outcome.UPDATED
    assert change.data == b"\0new"


def test_rename_is_detected_by_content() -> None:
    a, b = PurePosixPath("tests/test_a.py"), PurePosixPath("tests/test_b.py")
    other = PurePosixPath("x.py")
    renames = find_renames({a: BASE, other: b"x\n"}, {b: BASE + b"six\n", other: b"x\n"})
    assert renames == {a: b}
    assert find_renames({a: BASE}, {b: b"something else entirely\n"}) == {}


def test_rename_carries_local_changes_to_the_new_path(merger: LineMerger) -> None:
    old, new = PurePosixPath("old.py"), PurePosixPath("pkg/new.py")
    ours = BASE.replace(b"one", b"ONE")
    theirs = BASE.replace(b"five", b"FIVE")
    changes = {c.path: c for c in merge_trees({old: BASE}, {old: ours}, {new: theirs}, {}, merger)}
    assert changes[new].outcome is Outcome.MOVED
    assert changes[new].moved_from == old
    assert changes[new].data == b"ONE\ntwo\nthree\nfour\nFIVE\n"
    assert changes[old].outcome is Outcome.REMOVED
    assert changes[old].moved_to == new


def test_rename_of_an_untouched_file_moves_it(merger: LineMerger) -> None:
    old, new = PurePosixPath("old.py"), PurePosixPath("new.py")
    changes = {c.path: c for c in merge_trees({old: BASE}, {old: BASE}, {new: BASE}, {}, merger)}
    assert changes[new].outcome is Outcome.MOVED
    assert changes[new].data == BASE
    assert changes[old].data is None


def test_files_only_the_project_has_are_never_touched(merger: LineMerger) -> None:
    mine = PurePosixPath("mine.py")
    changes = merge_trees({P: BASE}, {P: BASE, mine: b"x"}, {P: BASE}, {}, merger)
    assert [c.path for c in changes] == [P]


#: A factory module as a 1.2.0 template wrote it (its modules imported at the top) and as
#: 1.3.0 writes it (the imports moved into the factory, the same names).
INIT = PurePosixPath("src/pkg/__init__.py")
FACTORY_TOP = b"""\
from flask import Flask

from . import auth, views
from .config import load

csrf = 1


def create_app() -> Flask:
    app = Flask(__name__)
    app.register_blueprint(views.bp)
    return app
"""
FACTORY_INSIDE = b"""\
from flask import Flask

csrf = 1


def create_app() -> Flask:
    # Imported here, so importing the package loads none of them.
    from . import auth, views
    from .config import load

    app = Flask(__name__)
    app.register_blueprint(views.bp)
    return app
"""


def _generated(factory: bytes, line: bytes, *modules: bytes) -> bytes:
    """``factory`` after ``webkit generate resource`` for each module: its name added to
    ``line`` (the ``from . import`` statement) and its blueprint registered."""
    names = sorted([*line.split(b"import ")[1].split(b", "), *modules])
    out = factory.replace(line, line.split(b"import ")[0] + b"import " + b", ".join(names))
    for module in modules:
        out = out.replace(
            b"    return app\n", b"    app.register_blueprint(%s.bp)\n    return app\n" % module
        )
    return out


def test_names_generate_added_to_an_import_the_template_moved_are_carried_there(
    merger: LineMerger,
) -> None:
    """webkit's own edits on both sides (generate's import names, the template moving the
    import) are no conflict: the user edited nothing the template changed."""
    ours = _generated(FACTORY_TOP, b"from . import auth, views", b"authors", b"posts")
    change = merge_file(INIT, FACTORY_TOP, ours, FACTORY_INSIDE, merger)
    assert change.outcome is Outcome.MERGED, change.data
    assert change.data == _generated(
        FACTORY_INSIDE, b"    from . import auth, views", b"authors", b"posts"
    )


def test_an_import_the_user_rewrote_where_the_template_moved_it_still_conflicts(
    merger: LineMerger,
) -> None:
    """A name taken out of the import (the user's edit of the moved line) stays git's
    conflict, with its markers."""
    ours = FACTORY_TOP.replace(b"from . import auth, views", b"from . import views")
    change = merge_file(INIT, FACTORY_TOP, ours, FACTORY_INSIDE, merger)
    assert change.outcome is Outcome.CONFLICT
    assert change.data is not None and b"<<<<<<< project\nfrom . import views\n" in change.data


def test_added_names_with_a_true_conflict_elsewhere_keep_the_whole_conflict(
    merger: LineMerger,
) -> None:
    ours = _generated(FACTORY_TOP, b"from . import auth, views", b"authors").replace(
        b"csrf = 1", b"csrf = 2"
    )
    theirs = FACTORY_INSIDE.replace(b"csrf = 1", b"csrf = 3")
    change = merge_file(INIT, FACTORY_TOP, ours, theirs, merger)
    assert change.outcome is Outcome.CONFLICT
    assert change.data is not None and b"<<<<<<< project\n" in change.data
