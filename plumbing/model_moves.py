"""For migrations that move models between apps by state only (SeparateDatabaseAndState).

Migrations import this module: keep its names and behaviour as they are."""


def content_types_follow(*, old_app: str, moved: dict[str, str]):
    """RunPython's (forward, backward) pair that renames the content types of the moved models
    (`{model: new app}`) from `old_app` to their new app, and back: permissions and admin history
    point at content types, and so follow the models instead of being left behind on a stale type."""

    def rename(apps, *, forward: bool) -> None:
        ContentType = apps.get_model("contenttypes", "ContentType")
        Permission = apps.get_model("auth", "Permission")
        for model, app in moved.items():
            old, new = (old_app, app) if forward else (app, old_app)
            stale = ContentType.objects.filter(app_label=old, model=model).first()
            if stale is None:
                continue
            made = ContentType.objects.filter(app_label=new, model=model).first()
            if made is None:
                stale.app_label = new
                stale.save(update_fields=["app_label"])
                continue
            # A type already made under the new label (a post_migrate in between): the old type's
            # permissions move to it (their groups and users joining the new twin where it has
            # one), then the old type goes.
            twins = {p.codename: p for p in Permission.objects.filter(content_type=made)}
            for permission in Permission.objects.filter(content_type=stale):
                twin = twins.get(permission.codename)
                if twin is None:
                    permission.content_type = made
                    permission.save(update_fields=["content_type"])
                else:
                    twin.group_set.add(*permission.group_set.all())
                    twin.user_set.add(*permission.user_set.all())
            stale.delete()

    def forward(apps, schema_editor):
        rename(apps, forward=True)

    def backward(apps, schema_editor):
        rename(apps, forward=False)

    return forward, backward
