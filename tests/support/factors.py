"""The default contributing factors, which migration 0006 seeds: tests that flush the database
(transactional and live-server ones) put them back with `seed_default_factors()`."""

from postmortems.defaults import DEFAULT_FACTORS
from postmortems.models import ContributingFactor


def seed_default_factors() -> list[ContributingFactor]:
    return [
        ContributingFactor.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "position": position * 10}
        )[0]
        for position, (slug, name, description) in enumerate(DEFAULT_FACTORS, start=1)
    ]
