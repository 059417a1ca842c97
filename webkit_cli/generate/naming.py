"""A resource's names: ``blog_post`` → class ``BlogPost``, table and module ``blog_posts``,
URL ``/blog-posts``, labels "Blog post" / "Blog posts"."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from webkit_cli.generate.fields import GenerateError

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+")
#: English plurals a naive "+s" gets wrong, for the names people give resources.
_IRREGULAR = {
    "person": "people",
    "child": "children",
    "man": "men",
    "woman": "women",
    "mouse": "mice",
    "goose": "geese",
    "foot": "feet",
    "tooth": "teeth",
    "datum": "data",
    "index": "indices",
    "status": "statuses",
    "quiz": "quizzes",
}
_UNCOUNTABLE = {"news", "series", "species", "data", "information", "equipment", "feedback"}
#: Module names a generated resource must not shadow: the project's own modules (checked
#: separately on disk), Python's and Flask's.
_RESERVED = {
    "app", "flask", "test", "tests", "static", "templates", "migrations", "config", "db",
    "models", "views", "forms", "errors", "auth", "api", "pages", "cli", "security",
    "session", "request", "g", "json", "types", "typing", "string", "random", "time",
    "logging", "email", "select", "os", "sys", "io", "re", "abc", "code", "copy", "site",
}  # fmt: skip


def pluralize(word: str) -> str:
    """The plural of the last word of a snake_case name."""
    head, _, last = word.rpartition("_")
    prefix = f"{head}_" if head else ""
    if last in _UNCOUNTABLE:
        return word
    if last in _IRREGULAR:
        return prefix + _IRREGULAR[last]
    if re.search(r"[^aeiou]y$", last):
        return prefix + last[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", last):
        return prefix + last + "es"
    return prefix + last + "s"


def singularize(word: str) -> str:
    """The singular of a name that looks plural (``posts`` → ``post``), else the name."""
    head, _, last = word.rpartition("_")
    prefix = f"{head}_" if head else ""
    for singular, plural in _IRREGULAR.items():
        if last == plural:
            return prefix + singular
    if last in _UNCOUNTABLE or last.endswith("ss") or len(last) <= 3:
        return word
    if last.endswith("ies"):
        return prefix + last[:-3] + "y"
    if re.search(r"(s|x|z|ch|sh)es$", last):
        return prefix + last[:-2]
    if last.endswith("s"):
        return prefix + last[:-1]
    return word


def snake(name: str) -> str:
    """``BlogPost``, ``blog-post``, ``blog post`` → ``blog_post``."""
    words = _WORDS.findall(name.replace("-", " ").replace("_", " "))
    return "_".join(w.lower() for w in words)


@dataclass(frozen=True)
class ResourceNames:
    singular: str  # blog_post
    plural: str  # blog_posts

    @property
    def model(self) -> str:
        return "".join(w.capitalize() for w in self.singular.split("_"))

    @property
    def table(self) -> str:
        return self.plural

    @property
    def module(self) -> str:
        return self.plural

    @property
    def blueprint(self) -> str:
        return self.plural

    @property
    def url(self) -> str:
        return "/" + self.plural.replace("_", "-")

    @property
    def label(self) -> str:
        return self.singular.replace("_", " ").capitalize()

    @property
    def label_plural(self) -> str:
        return self.plural.replace("_", " ").capitalize()

    @property
    def var(self) -> str:
        """The variable a view holds one record in."""
        return self.singular

    @property
    def var_plural(self) -> str:
        return self.plural if self.plural != self.singular else f"{self.plural}_list"


def resource_names(name: str) -> ResourceNames:
    """Validate NAME (singular or plural, any case) and derive every name from it."""
    raw = name
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", raw):
        raise GenerateError(
            f"{raw!r} is not a resource name: use letters, digits, '_' or '-', starting with a "
            "letter (for example post or blog_post)."
        )
    singular = singularize(snake(raw))
    plural = pluralize(singular)
    for word in {singular, plural}:
        if keyword.iskeyword(word) or keyword.issoftkeyword(word) or word in _RESERVED:
            raise GenerateError(
                f"{raw!r} is reserved: the resource would be called {word!r}, a name Python, "
                "Flask or the project already uses. Choose another name."
            )
    return ResourceNames(singular=singular, plural=plural)
