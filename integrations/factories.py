import factory

from integrations.crypto import encrypt


class IntegrationFactory(factory.django.DjangoModelFactory):
    """An integration whose plain secret is `secret` (default "test-webhook-secret")."""

    class Meta:
        model = "integrations.Integration"

    class Params:
        secret = "test-webhook-secret"

    kind = "github"
    name = factory.Sequence(lambda n: f"Integration {n}")
    secret_encrypted = factory.LazyAttribute(lambda o: encrypt(o.secret))


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A stored webhook delivery, as integrations.services.delivery_receive leaves it (not processed yet)."""

    class Meta:
        model = "integrations.Delivery"

    integration = factory.SubFactory(IntegrationFactory)
    kind = factory.LazyAttribute(lambda o: o.integration.kind)
    delivery_id = factory.Sequence(lambda n: f"delivery-{n}")
    event = "deployment_status"
    headers = factory.LazyAttribute(lambda o: {"Content-Type": "application/json", "X-GitHub-Event": o.event})
    body = '{"action": "created"}'


class SlackWorkspaceFactory(factory.django.DjangoModelFactory):
    """A workspace whose plain bot token is `bot_token` and signing secret is `signing_secret`."""

    class Meta:
        model = "integrations.SlackWorkspace"
        django_get_or_create = ["team_id"]

    class Params:
        bot_token = "xoxb-test-bot-token"
        signing_secret = "test-slack-signing-secret"

    team_id = "T0001"
    name = "Acme"
    announce_channel = "C0ANNOUNCE"
    bot_token_encrypted = factory.LazyAttribute(lambda o: encrypt(o.bot_token))
    signing_secret_encrypted = factory.LazyAttribute(lambda o: encrypt(o.signing_secret))


class SlackUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "integrations.SlackUser"

    workspace = factory.SubFactory(SlackWorkspaceFactory)
    slack_user_id = factory.Sequence(lambda n: f"U{n:06d}")
    # No default: the test says whose account this is.
    user = None


class SlackRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "integrations.SlackRequest"

    workspace = factory.SubFactory(SlackWorkspaceFactory)
    key = factory.Sequence(lambda n: f"Ev{n:08d}")
    kind = "event"
    payload = factory.LazyAttribute(lambda o: {"type": "event_callback", "event_id": o.key})
    status = "done"


class MattermostServerFactory(factory.django.DjangoModelFactory):
    """A server whose bot token is `bot_token` and slash command token is `command_token`; `url`
    is set by the test to its fake server."""

    class Meta:
        model = "integrations.MattermostServer"
        django_get_or_create = ["name"]

    class Params:
        bot_token = "test-mattermost-bot-token"
        command_token = "xr3j5x3p4pfpjdj7ou8f5xyaxc"

    name = "Acme chat"
    url = "http://127.0.0.1:1"
    announce_channel = "announcechannel0000000000a"
    bot_token_encrypted = factory.LazyAttribute(lambda o: encrypt(o.bot_token))
    command_tokens_encrypted = factory.LazyAttribute(lambda o: encrypt(o.command_token))


class MattermostUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "integrations.MattermostUser"

    server = factory.SubFactory(MattermostServerFactory)
    mattermost_user_id = factory.Sequence(lambda n: f"mmuser{n:020d}")
    # No default: the test says whose account this is.
    user = None


class TrackerConnectionFactory(factory.django.DjangoModelFactory):
    """A GitHub Issues connection (acme/web) whose plain token is `token` and webhook secret is
    `webhook_secret`; `kind="jira"` with `flavour` for Jira (project OPS)."""

    class Meta:
        model = "integrations.TrackerConnection"

    class Params:
        token = "github_pat_test_token"
        webhook_secret = "test-tracker-secret"

    name = factory.Sequence(lambda n: f"Tracker {n}")
    kind = "github"
    base_url = "https://api.github.com"
    repository = "acme/web"
    project_key = "OPS"
    issue_type = "Task"
    labels = "opslog,remediation"
    token_encrypted = factory.LazyAttribute(lambda o: encrypt(o.token))
    webhook_secret_encrypted = factory.LazyAttribute(lambda o: encrypt(o.webhook_secret))


class TrackerLinkFactory(factory.django.DjangoModelFactory):
    """A remediation linked to issue #`issue_key` of its connection."""

    class Meta:
        model = "integrations.TrackerLink"

    remediation = factory.SubFactory("postmortems.factories.RemediationFactory")
    connection = factory.SubFactory(TrackerConnectionFactory)
    state = "linked"
    issue_key = factory.Sequence(lambda n: str(100 + n))
    url = factory.LazyAttribute(lambda o: f"https://github.com/acme/web/issues/{o.issue_key}")
