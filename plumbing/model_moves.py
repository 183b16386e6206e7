"""For migrations that move models between apps by state only (SeparateDatabaseAndState).

Migrations import this module: keep its names and behaviour as they are."""


def content_types_follow(*, old_app: str, moved: dict[str, str]):
    """RunPython's (forward, backward) pair that renames the content types of the moved models
    (`{model: new app}`) from `old_app` to their new app, and back: permissions and admin history
    point at content types, and so follow the models instead of being left behind on a stale type."""

    def rename(apps, *, forward: bool) -> None:
        ContentType = apps.get_model("contenttypes", "ContentType")
        for model, app in moved.items():
            old, new = (old_app, app) if forward else (app, old_app)
            # A type already made under the new label (by a post_migrate in between) is kept as it is.
            if ContentType.objects.filter(app_label=new, model=model).exists():
                continue
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)

    def forward(apps, schema_editor):
        rename(apps, forward=True)

    def backward(apps, schema_editor):
        rename(apps, forward=False)

    return forward, backward
