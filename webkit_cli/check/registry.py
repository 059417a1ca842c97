"""Where checks register: a :class:`CheckRegistry` instance, as in Django's ``core.checks``.

The rule modules decorate their functions with ``@register("T002")`` on the default
:data:`registry`; :func:`~webkit_cli.check.runner.run_check` takes any registry, so a test
builds its own (one broken check, say) instead of patching module globals. Whether a
check needs the app is not declared here: it follows from its codes' :class:`Rule`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from webkit_cli.check.rules import RULES

if TYPE_CHECKING:
    from webkit_cli.check.context import CheckContext
    from webkit_cli.check.findings import Finding

    CheckFunc = Callable[[CheckContext], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    """A function that walks the shared context and yields findings of ``codes``."""

    codes: frozenset[str]
    func: Callable[[Any], Iterable[Any]]
    #: what it reports on a file depends on that file alone, so a run may take its
    #: findings from the per-file cache (:mod:`webkit_cli.check.filecache`)
    per_file: bool = False

    @property
    def needs_import(self) -> bool:
        """Skipped without the app (its codes agree on that: see :meth:`CheckRegistry.add`)."""
        return any(RULES[code].needs_import for code in self.codes)


class CheckRegistry:
    """An ordered collection of checks; iteration is registration order."""

    def __init__(self) -> None:
        self._checks: list[Check] = []

    def add(
        self, codes: Iterable[str], func: Callable[[Any], Iterable[Any]], *, per_file: bool = False
    ) -> Check:
        """Register ``func`` as the check emitting ``codes`` (all must be in :data:`RULES`)."""
        frozen = frozenset(codes)
        unknown = sorted(code for code in frozen if code not in RULES)
        if unknown:
            raise KeyError(f"unregistered codes {unknown}")
        if len({RULES[code].needs_import for code in frozen}) > 1:
            # One check cannot be half skipped without the app: split it in two.
            raise ValueError(f"codes {sorted(frozen)} disagree on needing the app")
        item = Check(frozen, func, per_file)
        self._checks.append(item)
        return item

    def register(self, *codes: str, per_file: bool = False) -> Callable[[CheckFunc], CheckFunc]:
        """Decorator form of :meth:`add`: ``@registry.register("S001", "S002")``."""

        def decorate(func: CheckFunc) -> CheckFunc:
            self.add(codes, func, per_file=per_file)
            return func

        return decorate

    def __iter__(self) -> Iterator[Check]:
        return iter(self._checks)

    def __len__(self) -> int:
        return len(self._checks)


#: The checks of webkit's own rule modules, filled as :mod:`webkit_cli.check.runner`
#: imports them.
registry = CheckRegistry()
register = registry.register
