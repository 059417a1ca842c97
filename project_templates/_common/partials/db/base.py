{#- Where the migrations live, the constraint names and the models' base class, written
    once: _web's and api's db.py.jinja include it (migrations/env.py and every
    migration rely on these names). -#}
#: Where the migrations live: inside the package, so an installed wheel (the Docker image)
#: has them too.
MIGRATIONS = Path(__file__).with_name("migrations")

#: Named constraints: a later migration can drop or alter them (SQLite's batch mode needs it).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
