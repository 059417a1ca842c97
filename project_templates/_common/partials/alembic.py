{#- What the built-in templates' migrations share, written once: the frame Alembic gives every
    migration (migrations/script.py.mako: the docstring and the revision identifiers) and the
    users table, which site, ajax (with passwords, for signing in) and api (without) each
    create in a migration of their own. A macro's first line takes the indentation of the
    line that calls it. A released migration is history in every project: what it renders
    never changes (tests/scaffold holds it to the released archives); add a migration. -#}

{%- macro docstring(message, revision, down_revision=none) -%}
"""{{ message }}

Revision ID: {{ revision }}
Revises:{% if down_revision %} {{ down_revision }}{% endif %}
"""
{%- endmacro %}

{%- macro identifiers(revision, down_revision=none) -%}
# Revision identifiers, used by Alembic.
revision = "{{ revision }}"
down_revision = {% if down_revision %}"{{ down_revision }}"{% else %}None{% endif %}
branch_labels = None
depends_on = None
{%- endmacro %}

{#- The users table as its migration creates it; sign_in adds the columns of accounts that
    log in with a password (site and ajax). -#}
{%- macro create_users(sign_in) -%}
op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
{%- if sign_in %}
        sa.Column("password_hash", sa.String(length=255), nullable=False),
{%- endif %}
        sa.Column("is_admin", sa.Boolean(), nullable=False),
{%- if sign_in %}
        sa.Column("session_token", sa.String(length=64), nullable=False),
{%- endif %}
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
{%- endmacro %}

{#- The same columns as a lightweight sa.table() for a data step's plain SQL. -#}
{%- macro users_table(sign_in) -%}
users = sa.table(
        "users",
        sa.column("id", sa.Integer()),
        sa.column("email", sa.String()),
{%- if sign_in %}
        sa.column("password_hash", sa.String()),
{%- endif %}
        sa.column("is_admin", sa.Boolean()),
{%- if sign_in %}
        sa.column("session_token", sa.String()),
{%- endif %}
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
{%- endmacro %}
