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
