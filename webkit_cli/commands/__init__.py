"""One module per command; each is a thin click shim over the library below it.

The modules are imported lazily by :class:`webkit_cli.cli.LazyGroup`, so keep
their top-level imports light: import rich, jinja2, werkzeug or flask inside the
command function, not at module level.
"""
