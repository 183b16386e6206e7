"""What the apps' forms share."""

from django import forms
from django.core.exceptions import ValidationError


class ParameterErrorsMixin:
    """For a form that reads an API's query parameters: its errors as the API's 400 answers them,
    a list of messages under each parameter's name."""

    def errors_by_parameter(self) -> dict[str, list[str]]:
        return {name: [str(message) for message in messages] for name, messages in self.errors.items()}


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError next to the fields it names (or above the form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, messages in error.message_dict.items():
        form.add_error(name if name in form.fields else None, messages)
