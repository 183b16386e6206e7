from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("how-we-count/", views.how_we_count, name="how_we_count"),
]
