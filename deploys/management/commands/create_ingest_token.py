from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from deploys.services import ingest_token_create


class Command(BaseCommand):
    help = (
        "Make an ingest token for a CI system and print its key (shown only now). The key may post "
        "deploys (POST /api/deploys/ and /api/deploys/bulk/) and nothing else; revoke it in the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses it, e.g. 'jenkins-deploy'.")

    def handle(self, *args, name: str, **options):
        try:
            _, key = ingest_token_create(name=name)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()))
        self.stdout.write(key)
