from django.urls import path

from deploys import views_integrations

app_name = "integrations"

urlpatterns = [
    path("deliveries/", views_integrations.delivery_list, name="deliveries"),
    path("deliveries/<int:pk>/", views_integrations.delivery_detail, name="delivery"),
    path("deliveries/<int:pk>/replay/", views_integrations.delivery_replay, name="delivery_replay"),
]
