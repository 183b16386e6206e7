"""Validators several apps' records share."""

from django.core.validators import RegexValidator

# One-line values end up in chat lines and email headers: no line breaks or control characters.
single_line_validator = RegexValidator(
    r"^[^\x00-\x1f\x7f]*\Z", "Use a single line of text, without line breaks or control characters."
)

slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]*$",
    "Use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit.",
)
