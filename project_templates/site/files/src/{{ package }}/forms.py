"""Forms. Flask-WTF adds the CSRF token field and checks it on submit."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

# Deliberately simple: one "@" and a dot in the domain. Only a sent e-mail proves more.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class ContactForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    email = StringField(
        "E-mail",
        validators=[
            DataRequired(),
            Length(max=254),
            Regexp(EMAIL_PATTERN, message="Enter an e-mail address like name@example.com."),
        ],
    )
    message = TextAreaField(
        "Message",
        validators=[
            DataRequired(),
            Length(min=10, max=2000, message="Write between 10 and 2000 characters."),
        ],
    )
    submit = SubmitField("Send")


class NameForm(FlaskForm):
    """The visitor's display name, remembered in the session."""

    display_name = StringField("Your name", validators=[DataRequired(), Length(max=40)])
    submit = SubmitField("Remember me")
