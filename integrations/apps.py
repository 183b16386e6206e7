from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        # The webhook counts join /metrics (reports) from here: reports knows nothing of deliveries.
        from integrations.metrics import DeliveryCollector
        from reports.metrics import register_collector

        register_collector(DeliveryCollector())

        # The Slack announcement follows the incident however it changes (chat, web page, API):
        # incidents sends the signal and knows nothing of Slack.
        from incidents.signals import incident_changed

        incident_changed.connect(_incident_changed, dispatch_uid="integrations.slack.announce")
        incident_changed.connect(_incident_changed_mattermost, dispatch_uid="integrations.mattermost.announce")

        # CDEvents sinks hear of every deploy recorded and every incident stage reached.
        from deploys.signals import deploys_recorded

        deploys_recorded.connect(_deploys_recorded_cdevents, dispatch_uid="integrations.cdevents_out.deploys")
        incident_changed.connect(_incident_changed_cdevents, dispatch_uid="integrations.cdevents_out.incident")

        # Deploy notices through the Slack app and suspect flags: deploy notification channels,
        # registered into deploys, which knows nothing of Slack.
        from integrations.slack.deploys import register

        register()


def _incident_changed(sender, incident_id: int, **kwargs) -> None:
    from integrations.slack.services import announce_queue

    announce_queue(incident_id)


def _incident_changed_mattermost(sender, incident_id: int, **kwargs) -> None:
    # In the sender's thread, through the task queue (in-process when eager): never a thread of its
    # own, whose database connection would not be the request's (a live-server test's in-memory one).
    from integrations.mattermost.services import announce_queue

    announce_queue(incident_id)


def _deploys_recorded_cdevents(sender, deploy_ids: list[int], **kwargs) -> None:
    from integrations.cdevents_out.services import record_deploys

    record_deploys(deploy_ids=deploy_ids)


def _incident_changed_cdevents(sender, incident_id: int, **kwargs) -> None:
    from integrations.cdevents_out.services import record_incident

    record_incident(incident_id=incident_id)
