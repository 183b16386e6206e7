from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_default_environments(sender, using="default", **kwargs):
    # Also after `flush` (which sends post_migrate), so a database emptied by hand or by a
    # transactional test still knows which environment is production.
    from deploys.models import DEFAULT_ENVIRONMENTS, Environment

    for slug, name, is_production in DEFAULT_ENVIRONMENTS:
        Environment.objects.using(using).get_or_create(
            slug=slug, defaults={"name": name, "is_production": is_production}
        )


class DeploysConfig(AppConfig):
    name = "deploys"
    verbose_name = "Deploys"

    def ready(self):
        post_migrate.connect(ensure_default_environments, sender=self)
        from deploys import adapters  # noqa: F401  (registers the GitHub and GitLab webhook senders)
