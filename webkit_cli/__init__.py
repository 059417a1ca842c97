"""webkit: scaffold, serve, inspect and lint Flask projects."""

__version__ = "0.1.0"
