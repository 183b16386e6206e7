from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, transaction
from django.template.defaultfilters import pluralize

from deploys.importers import HeaderError, ParseError, detect_format, read_deploys
from deploys.services import DeployInput, deploy_record


class Command(BaseCommand):
    help = (
        "Import deploy history from a Deployinator-style log or a CSV file. "
        "Safe to run twice: rows already imported are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The log or CSV file to import.")
        parser.add_argument(
            "--format",
            choices=["auto", "log", "csv"],
            default="auto",
            help="auto (default): CSV for a .csv file or one starting with a `service,...` header, else log lines.",
        )

    def handle(self, *args, file: str, format: str, **options) -> None:
        path = Path(file)
        try:
            # newline="" keeps line endings as they are, so csv can read quoted multi-line fields.
            with path.open(encoding="utf-8-sig", newline="") as handle:
                lines = list(handle)
        except FileNotFoundError:
            raise CommandError(f"File not found: {path}") from None
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
        except OSError as error:
            raise CommandError(f"Can't read {path}: {error.strerror}") from None

        fmt = detect_format(path.name, lines) if format == "auto" else format
        rows: list[tuple[int, DeployInput]] = []
        errors = 0
        try:
            for number, parsed in read_deploys(lines, fmt):
                if isinstance(parsed, ParseError):
                    self.stderr.write(f"line {number}: {parsed.reason}")
                    errors += 1
                else:
                    rows.append((number, parsed))
        except HeaderError as error:
            raise CommandError(f"{path}: {error}") from None

        # Oldest first, so a row that omits its previous version finds the one before it.
        rows.sort(key=lambda row: row[1].deployed_at)
        created = skipped = 0
        for number, data in rows:
            try:
                with transaction.atomic():
                    # read_deploys checked each line against the deploy contract.
                    # rules=None: the importer checked the line against the contract as it parsed it.
                    _, was_created = deploy_record(data=data, notify=False, rules=None)
            except DatabaseError as error:
                self.stderr.write(f"line {number}: could not be stored: {error}")
                errors += 1
                continue
            if was_created:
                created += 1
            else:
                skipped += 1

        self.stdout.write(
            f"Imported {created} deploy{pluralize(created)}, skipped {skipped} duplicate{pluralize(skipped)}, "
            f"{errors} line{pluralize(errors)} with errors."
        )
        if errors:
            raise CommandError(f"{errors} line(s) of {path} were not imported; see the errors above.")
