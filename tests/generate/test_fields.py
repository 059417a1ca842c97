"""FIELD:TYPE[:OPTIONS] specs: every type and option, and one clear error for each mistake."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from webkit_cli.generate.fields import GenerateError, parse_field, parse_fields


def test_a_plain_field_is_optional_with_the_types_default_length() -> None:
    field = parse_field("title:str")
    assert (field.name, field.type, field.required, field.max) == ("title", "str", False, 120)
    assert field.nullable
    assert field.sa_type == "String(120)"
    assert field.migration_type == "sa.String(length=120)"
    assert field.py_type == "str | None"


def test_options_are_read_in_any_order() -> None:
    field = parse_field("slug:str:unique:max=40:required:index")
    assert (field.required, field.unique, field.index, field.max) == (True, True, True, 40)
    assert field.py_type == "str"
    assert field.form_validators == ("InputRequired()", "Length(max=40)")


@pytest.mark.parametrize(
    ("spec", "sa_type", "py_type"),
    [
        ("body:text", "Text", "str | None"),
        ("n:int:required", "Integer", "int"),
        ("x:float", "Float", "float | None"),
        ("done:bool", "Boolean", "bool"),  # never NULL: unchecked is False
        ("due:date", "Date", "date | None"),
        ("at:datetime", "DateTime(timezone=True)", "datetime | None"),
        ("price:decimal", "Numeric(12, 2)", "Decimal | None"),
        ("mail:email", "String(254)", "str | None"),
        ("home:url", "String(2048)", "str | None"),
        ("author:ref:author", "Integer", "int | None"),
    ],
)
def test_each_type_maps_to_a_column_and_a_python_type(
    spec: str, sa_type: str, py_type: str
) -> None:
    field = parse_field(spec)
    assert field.sa_type == sa_type
    assert field.py_type == py_type


def test_a_reference_is_stored_in_a_name_id_column() -> None:
    field = parse_field("author:ref:author:required")
    assert (field.column, field.ref, field.required) == ("author_id", "author", True)
    assert field.form_field == "SelectField"


@pytest.mark.parametrize(
    ("spec", "default"),
    [
        ("n:int:default=3", 3),
        ("on:bool:default=true", True),
        ("price:decimal:default=9.50", Decimal("9.50")),
        ("due:date:default=2026-12-01", date(2026, 12, 1)),
        ("title:str:default=Untitled", "Untitled"),
    ],
)
def test_defaults_are_parsed_as_the_fields_type(spec: str, default: object) -> None:
    assert parse_field(spec).default == default


def test_samples_differ_from_each_other_and_fit_the_field() -> None:
    field = parse_field("code:str:max=5")
    assert field.sample(1) != field.sample(2)
    assert all(len(field.sample(n)) <= 5 for n in (1, 2))
    assert field.invalid_form_value == "x" * 6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("title", "give the field a type, as in title:str"),
        ("title:string", "unknown type 'string'. Did you mean 'str'?"),
        ("n:int:max=3", "max= applies to str, email and url fields only"),
        ("t:str:max=0", "max= needs a length from 1 to 65535"),
        ("n:int:default=many", "default='many' is not a valid int"),
        ("t:str:color=red", "unknown option 'color=red'"),
        ("a:ref", "name the model it refers to"),
        ("a:ref:author:default=1", "a reference cannot have a default"),
        ("Title:str", "lowercase letters, digits and underscores"),
        ("class:str", "'class' is a Python keyword"),
        ("id:int", "'id' is reserved"),
        ("created_at:datetime", "'created_at' is reserved"),
        (":str", "a field needs a name"),
        ("t:str:max=3:default=toolong", "the default is longer than max=3"),
    ],
)
def test_a_bad_spec_is_one_clear_error(spec: str, message: str) -> None:
    with pytest.raises(GenerateError) as info:
        parse_field(spec)
    assert message in info.value.format_message()


def test_a_field_given_twice_is_refused() -> None:
    with pytest.raises(GenerateError, match="'title' is given twice"):
        parse_fields(["title:str", "title:text"])
    with pytest.raises(GenerateError, match="'author_id' is given twice"):
        parse_fields(["author:ref:author", "author_id:int"])
