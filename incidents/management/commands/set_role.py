from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from config.roles import ROLES, role_set


class Command(BaseCommand):
    help = (
        "Set a user's role: viewer (reads everything), responder (also files and edits incidents, "
        "post-mortems, remediations, deploys and change records) or admin (everything, incl. the admin site)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", choices=ROLES)

    def handle(self, *args, username: str, role: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        role_set(user=user, role=role)
        article = "an" if role[0] in "aeiou" else "a"
        self.stdout.write(f"{username} is now {article} {role}.")
