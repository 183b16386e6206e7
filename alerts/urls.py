from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.alert_list, name="list"),
    # Etsy's monthly alerts review: signal and noise per alert name (?month=YYYY-MM).
    path("review/", views.alert_review, name="review"),
    path("<int:pk>/", views.alert_detail, name="detail"),
    path("<int:pk>/promote/", views.alert_promote, name="promote"),
]
