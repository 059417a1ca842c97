{#- The columns of 0001's todos table, written once: 0001 creates the table with them and
    0002 describes it with them for SQLite's batch copy. A macro's first line takes the
    indentation of the line that calls it. -#}

{%- macro todos_columns() -%}
sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
{%- endmacro %}
