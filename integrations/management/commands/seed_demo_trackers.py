from django.core.management.base import BaseCommand

from integrations.demo import seed_trackers


class Command(BaseCommand):
    help = (
        "After seed_demo: a demo GitHub Issues connection (never called) with some published remediations "
        "linked to issues, and the done ones' closing on their incidents' timelines. Safe to run twice."
    )

    def handle(self, *args, **options):
        made = seed_trackers()
        self.stdout.write(f"Demo tracker links: {made} created.")
