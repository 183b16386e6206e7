from django.urls import path

from integrations import views
from integrations.slack import views as slack_views

app_name = "integrations"

# Mounted at the site root: senders post to /hooks/, admins read deliveries under /integrations/.
urlpatterns = [
    # Slack's three request URLs (the app manifest in docs/integrations/slack.md names them).
    path("hooks/slack/commands", slack_views.commands, name="slack_commands"),
    path("hooks/slack/interactivity", slack_views.interactivity, name="slack_interactivity"),
    path("hooks/slack/events", slack_views.events, name="slack_events"),
    path("hooks/<slug:kind>/", views.hook_receive, name="hook"),
    path("integrations/deliveries/", views.delivery_list, name="deliveries"),
    path("integrations/deliveries/<int:pk>/", views.delivery_detail, name="delivery"),
    path("integrations/deliveries/<int:pk>/replay/", views.delivery_replay, name="delivery_replay"),
]
