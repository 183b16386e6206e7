"""The admin's change forms as a browser would post them back: every field the page shows, with its
current value, and the management forms of its inlines."""

from django import forms


def _post_values(form: forms.BaseForm, name: str) -> dict:
    field = form.fields[name]
    key = form.add_prefix(name)
    value = form[name].value()
    widget = field.widget
    if isinstance(widget, forms.CheckboxInput):
        return {key: "on"} if value else {}
    if isinstance(widget, forms.MultiWidget):
        parts = widget.decompress(value) if not isinstance(value, list) else value
        return {f"{key}_{index}": "" if part is None else str(part) for index, part in enumerate(parts)}
    if isinstance(value, list | tuple):
        return {key: [str(item) for item in value]}
    return {key: "" if value is None else str(value)}


def change_form_data(client, url: str) -> dict:
    """GET an admin add/change page; the POST data that saves it unchanged."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    form = page.context["adminform"].form
    data = {}
    for name in form.fields:
        data.update(_post_values(form, name))
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = str(management[name].value())
        for row in formset.forms:
            for name in row.fields:
                if name != "DELETE":
                    data.update(_post_values(row, name))
    return data


def delete_selected(client, changelist_url: str, pks) -> object:
    """The changelist's bulk "Delete selected" action, confirmed (its second POST)."""
    return client.post(
        changelist_url, {"action": "delete_selected", "_selected_action": [str(pk) for pk in pks], "post": "yes"}
    )
