from django.db import migrations, models


def keep_existing_tokens_working(apps, schema_editor):
    # Before this scope existed, a token of any service created the services it posted: the tokens
    # already given out keep doing so (docs/operations/upgrades.md). New tokens start without it.
    IngestToken = apps.get_model("deploys", "IngestToken")
    IngestToken.objects.filter(services__isnull=True).update(may_create_services=True)


class Migration(migrations.Migration):
    dependencies = [
        ("deploys", "0011_auth_hash_user_tokens"),
    ]

    operations = [
        migrations.AddField(
            model_name="ingesttoken",
            name="may_create_services",
            field=models.BooleanField(
                default=False,
                help_text="A deploy of a service Opslog doesn't know yet creates it. Off: such a deploy is refused "
                "(400) until the service is made in the admin. Only for a token of any service.",
            ),
        ),
        migrations.AlterField(
            model_name="ingesttoken",
            name="services",
            field=models.ManyToManyField(
                blank=True,
                help_text="The services it may post deploys of; none: any service. "
                "A leaked key then can't write another team's history.",
                related_name="+",
                to="deploys.service",
            ),
        ),
        migrations.RunPython(keep_existing_tokens_working, migrations.RunPython.noop),
    ]
