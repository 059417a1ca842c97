"""A resource's names, from whatever the user typed."""

from __future__ import annotations

import pytest

from webkit_cli.generate.fields import GenerateError
from webkit_cli.generate.naming import pluralize, resource_names, singularize


@pytest.mark.parametrize(
    ("singular", "plural"),
    [
        ("post", "posts"),
        ("category", "categories"),
        ("day", "days"),
        ("box", "boxes"),
        ("match", "matches"),
        ("person", "people"),
        ("blog_post", "blog_posts"),
        ("news", "news"),
        ("address", "addresses"),
    ],
)
def test_plurals_and_back(singular: str, plural: str) -> None:
    assert pluralize(singular) == plural
    assert singularize(plural) == singular


@pytest.mark.parametrize(
    "given", ["blog_post", "BlogPost", "blog-posts", "blog_posts", "BlogPosts"]
)
def test_every_spelling_names_the_same_resource(given: str) -> None:
    names = resource_names(given)
    assert (names.singular, names.plural, names.model) == ("blog_post", "blog_posts", "BlogPost")
    assert (names.table, names.module, names.url) == ("blog_posts", "blog_posts", "/blog-posts")
    assert (names.label, names.label_plural) == ("Blog post", "Blog posts")


@pytest.mark.parametrize("name", ["class", "user-s!", "9lives", "", "models", "auth", "static"])
def test_reserved_or_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(GenerateError):
        resource_names(name)
