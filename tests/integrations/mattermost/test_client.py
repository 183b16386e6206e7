"""The REST API client against the fake: rate limits waited out within the settings' caps, errors named."""

import time

import pytest

from integrations.factories import MattermostServerFactory
from integrations.mattermost.client import MattermostClient, MattermostError

pytestmark = pytest.mark.django_db


def _client(fake) -> MattermostClient:
    return MattermostClient(MattermostServerFactory(url=fake.url))


def test_a_reset_given_as_a_unix_time_is_waited_until(fake_mm):
    fake_mm.fail("GET /users/{id}", 429, headers={"X-Ratelimit-Reset": str(int(time.time()))})
    fake_mm.add_user("abc", email="a@example.com")
    assert _client(fake_mm).get_user("abc")["email"] == "a@example.com"
    assert len(fake_mm.called("GET /users/{id}")) == 2


def test_a_wait_over_the_cap_is_given_up_at_once(fake_mm, settings):
    settings.OPSLOG_MATTERMOST_MAX_WAIT = 5
    fake_mm.fail("POST /posts", 429, headers={"Retry-After": "60"})
    started = time.monotonic()
    with pytest.raises(MattermostError) as error:
        _client(fake_mm).create_post(channel_id="c", message="hello")
    assert error.value.status == 429 and time.monotonic() - started < 5
    assert len(fake_mm.called("POST /posts")) == 1


def test_rate_limit_retries_are_capped(fake_mm, settings):
    settings.OPSLOG_MATTERMOST_RATE_LIMIT_RETRIES = 2
    fake_mm.fail("POST /posts", 429, headers={"X-Ratelimit-Reset": "0"}, times=5)
    with pytest.raises(MattermostError):
        _client(fake_mm).create_post(channel_id="c", message="hello")
    assert len(fake_mm.called("POST /posts")) == 3


def test_a_429_without_a_wait_is_an_error(fake_mm):
    fake_mm.fail("POST /posts", 429)
    with pytest.raises(MattermostError):
        _client(fake_mm).create_post(channel_id="c", message="hello")
    assert len(fake_mm.called("POST /posts")) == 1


def test_an_error_answer_names_mattermost_s_message(fake_mm):
    fake_mm.fail("PUT /posts/{id}", 500, body={"id": "app.post.update.app_error", "message": "Unable to update"})
    with pytest.raises(MattermostError, match="500: PUT /posts/abc: Unable to update"):
        _client(fake_mm).update_post(post_id="abc", message="hello")


def test_an_unreachable_server_is_an_error_not_a_crash(db, settings):
    settings.OPSLOG_MATTERMOST_TIMEOUT = 1
    client = MattermostClient(MattermostServerFactory(url="http://127.0.0.1:9"))
    with pytest.raises(MattermostError) as error:
        client.get_user("abc")
    assert error.value.status == 0
