from django.urls import path

from integrations import pagerduty_change, views
from integrations.mattermost import views as mattermost_views
from integrations.slack import views as slack_views
from integrations.trackers import views as tracker_views

app_name = "integrations"

# Mounted at the site root: senders post to /hooks/, admins read deliveries under /integrations/.
urlpatterns = [
    # Slack's three request URLs (the app manifest in docs/integrations/slack.md names them).
    path("hooks/slack/commands", slack_views.commands, name="slack_commands"),
    path("hooks/slack/interactivity", slack_views.interactivity, name="slack_interactivity"),
    path("hooks/slack/events", slack_views.events, name="slack_events"),
    # Mattermost's slash command and what its buttons and dialogs post back (docs/integrations/mattermost.md).
    path("hooks/mattermost/command", mattermost_views.command, name="mattermost_command"),
    path("hooks/mattermost/actions", mattermost_views.actions, name="mattermost_actions"),
    # Trackers' webhooks, one address per connection (docs/integrations/trackers.md), and a
    # remediation's buttons on the post-mortem page.
    path("hooks/github-issues/<int:pk>/", tracker_views.github_issues_hook, name="tracker_github_hook"),
    path("hooks/jira/<int:pk>/", tracker_views.jira_hook, name="tracker_jira_hook"),
    path("remediations/<int:pk>/issue/", tracker_views.issue_create, name="tracker_issue_create"),
    path("remediations/<int:pk>/issue/link/", tracker_views.issue_link, name="tracker_issue_link"),
    # PagerDuty's own path for change events: a CI tool's PagerDuty base URL swapped for Opslog's.
    path("hooks/pagerduty/v2/change/enqueue", pagerduty_change.change_enqueue, name="pagerduty_change"),
    path("hooks/<slug:kind>/", views.hook_receive, name="hook"),
    path("integrations/deliveries/", views.delivery_list, name="deliveries"),
    path("integrations/deliveries/<int:pk>/", views.delivery_detail, name="delivery"),
    path("integrations/deliveries/<int:pk>/replay/", views.delivery_replay, name="delivery_replay"),
]
