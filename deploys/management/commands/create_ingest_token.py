from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from deploys.models import Service
from deploys.services import ingest_token_create

SHOWN = 30  # services named in the error for an unknown one


class Command(BaseCommand):
    help = (
        "Make an ingest token for a CI system and print its key (shown only now). The key may post "
        "deploys (POST /api/deploys/ and /api/deploys/bulk/) and nothing else; revoke it in the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses it, e.g. 'jenkins-deploy'.")
        parser.add_argument(
            "--service",
            action="append",
            default=[],
            metavar="SLUG",
            help="Limit it to this service, which must exist already (repeat for more); without it, any service.",
        )
        parser.add_argument(
            "--may-create-services",
            action="store_true",
            help="A deploy of a service Opslog doesn't know yet creates it (a token of any service only); "
            "without it, such a deploy is refused until the service is made in the admin.",
        )

    def handle(self, *args, name: str, service: list[str], may_create_services: bool, **options):
        if may_create_services and service:
            raise CommandError("--may-create-services is for a token of any service: leave out --service.")
        found = {s.slug: s for s in Service.objects.filter(slug__in=service)}
        unknown = sorted(set(service) - set(found))
        if unknown:
            slugs = list(Service.objects.order_by("slug").values_list("slug", flat=True)[: SHOWN + 1])
            known = f"The services are {', '.join(slugs[:SHOWN])}" if slugs else "There are no services yet"
            if len(slugs) > SHOWN:
                known += ", …"
            raise CommandError(
                f"No service {', '.join(unknown)}. {known}; a service is made by its first deploy "
                "(with a token for any service) or in the admin (Services)."
            )
        try:
            _, key = ingest_token_create(name=name, services=found.values(), may_create_services=may_create_services)
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            ) from exc
        self.stdout.write(key)
