from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from deploys.models import Service
from deploys.services import ingest_token_create


class Command(BaseCommand):
    help = (
        "Make an ingest token for a CI system and print its key (shown only now). The key may post "
        "deploys (POST /api/deploys/ and /api/deploys/bulk/) and nothing else; revoke it in the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses it, e.g. 'jenkins-deploy'.")
        parser.add_argument(
            "--service", action="append", default=[], metavar="SLUG",
            help="Limit it to this service (repeat for more); without it, any service.",
        )

    def handle(self, *args, name: str, service: list[str], **options):
        found = {s.slug: s for s in Service.objects.filter(slug__in=service)}
        unknown = sorted(set(service) - set(found))
        if unknown:
            raise CommandError(f"No service {', '.join(unknown)}: make it first (a deploy of it, or the admin).")
        try:
            _, key = ingest_token_create(name=name, services=found.values())
        except ValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()))
        self.stdout.write(key)
