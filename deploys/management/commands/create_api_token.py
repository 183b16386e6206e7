from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from deploys.services import api_token_create


class Command(BaseCommand):
    help = (
        "Make a new API token for a user and print its key (shown only now; only its digest is stored). "
        "It acts with the user's role; the user's previous token stops working."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}. Make one first (createsuperuser, or the admin's Users).")
        _, key = api_token_create(user=user)
        self.stdout.write(key)
