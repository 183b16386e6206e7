from django.urls import path

from incidents import views_alerts

app_name = "alerts"

urlpatterns = [
    path("", views_alerts.alert_list, name="list"),
    # Etsy's monthly alerts review: signal and noise per alert name (?month=YYYY-MM).
    path("review/", views_alerts.alert_review, name="review"),
    path("<int:pk>/", views_alerts.alert_detail, name="detail"),
    path("<int:pk>/promote/", views_alerts.alert_promote, name="promote"),
]
