from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from alerts.demo import seed_alerts
from deploys.demo import seed_deploys
from deploys.services import api_token_create
from incidents.demo import seed_incidents
from postmortems.demo import seed_postmortems

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "opslog-demo"


class Command(BaseCommand):
    help = (
        "Load deterministic demo data (about two years of deploys, incidents and post-mortems) and a demo "
        "login. Safe to run twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=730, help="How many days of history (default 730).")
        parser.add_argument("--no-login", action="store_true", help="Don't create the demo login.")

    def handle(self, *args, days: int, no_login: bool, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        deploys = seed_deploys(days=days)
        self.stdout.write(f"Demo deploys: {deploys.created} created, {deploys.existing} already there.")
        incidents = seed_incidents(days=days)
        self.stdout.write(f"Demo incidents: {incidents.created} created, {incidents.existing} already there.")
        postmortems = seed_postmortems()
        self.stdout.write(f"Demo post-mortems: {postmortems} created.")
        alerts = seed_alerts(days=days)
        self.stdout.write(f"Demo alerts: {alerts} created.")
        if no_login:
            return
        if not settings.DEBUG:
            self.stdout.write(
                "No demo login created: DJANGO_DEBUG is off, and a known password has no place in production. "
                "Create users with `manage.py createsuperuser`."
            )
            return
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        # Only a digest is stored: each run makes a new token (ending the last) to print its key.
        _, key = api_token_create(user=user)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login: {DEMO_USERNAME} / {DEMO_PASSWORD}"
                + ("" if created else " (unless you have changed its password)")
            )
        )
        self.stdout.write(f"Demo API token: {key}  (export OPSLOG_TOKEN={key}); a new one each run")
