"""The publish rule and the remediation rules, through every door: service, page and API."""

import pytest
from django.core.exceptions import ValidationError

from postmortems import services
from postmortems.factories import PostMortemFactory, RemediationFactory
from postmortems.models import Remediation
from tests.support.roles import responder

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    postmortem = PostMortemFactory()
    remediation = RemediationFactory(postmortem=postmortem)
    postmortem = services.postmortem_set_status(postmortem=postmortem, status="published")
    return postmortem, remediation


def test_the_last_remediation_of_a_published_postmortem_cant_be_deleted_from_the_page(logged_in, published):
    postmortem, remediation = published

    response = logged_in.post(f"/remediations/{remediation.pk}/delete/", follow=True)

    assert response.status_code == 200
    assert "last remediation of a published post-mortem" in response.content.decode()
    assert postmortem.remediations.count() == 1


def test_the_last_remediation_of_a_published_postmortem_cant_be_deleted_over_the_api(api, published):
    postmortem, remediation = published

    response = api.delete(f"/api/remediations/{remediation.pk}/")

    assert response.status_code == 400
    assert "last remediation" in str(response.json())
    assert postmortem.remediations.count() == 1


def test_dropping_a_remediation_after_publishing_doesnt_block_later_edits(published):
    postmortem, remediation = published
    # Left with only won't-do remediations before the rule was kept after publishing (the
    # services refuse it now): the write-up can still be corrected.
    Remediation.objects.filter(pk=remediation.pk).update(status="wont_do", wont_do_reason="Retired.")

    saved = services.postmortem_save(
        postmortem=postmortem, changes={"summary": "Typo fixed."}, base_version=postmortem.version
    )

    assert saved.summary == "Typo fixed."


def test_an_owner_is_a_user_or_a_name_not_both(published, user):
    postmortem, _ = published

    with pytest.raises(ValidationError) as error:
        services.remediation_create(
            postmortem=postmortem, data={"description": "x", "kind": "ops", "owner": user, "owner_name": "sam"}
        )

    assert list(error.value.message_dict) == ["owner_name"]


def test_an_inactive_user_cant_own_a_remediation(published, django_user_model):
    postmortem, _ = published
    gone = responder(django_user_model.objects.create_user("gone", is_active=False))

    with pytest.raises(ValidationError) as error:
        services.remediation_create(postmortem=postmortem, data={"description": "x", "kind": "ops", "owner": gone})

    assert list(error.value.message_dict) == ["owner"]


def test_sections_have_a_length_limit(published):
    postmortem, _ = published

    with pytest.raises(ValidationError) as error:
        services.postmortem_save(
            postmortem=postmortem, changes={"impact": "x" * 100_001}, base_version=postmortem.version
        )

    assert list(error.value.message_dict) == ["impact"]


def test_a_huge_version_number_in_a_diff_is_a_400(api, published):
    postmortem, _ = published

    response = api.get(f"/api/postmortems/{postmortem.pk}/diff/?from=99999999999999999999")

    assert response.status_code == 400
    assert list(response.json()) == ["from"]
