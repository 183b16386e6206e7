from django.urls import path

from integrations import views

app_name = "integrations"

# Mounted at the site root: senders post to /hooks/, admins read deliveries under /integrations/.
urlpatterns = [
    path("hooks/<slug:kind>/", views.hook_receive, name="hook"),
    path("integrations/deliveries/", views.delivery_list, name="deliveries"),
    path("integrations/deliveries/<int:pk>/", views.delivery_detail, name="delivery"),
    path("integrations/deliveries/<int:pk>/replay/", views.delivery_replay, name="delivery_replay"),
]
