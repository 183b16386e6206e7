from django.urls import path

from deploys.views_hooks import hook_receive

app_name = "hooks"

urlpatterns = [
    path("<slug:kind>/", hook_receive, name="receive"),
]
