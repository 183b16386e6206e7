from django.urls import path

from incidents import views

app_name = "remediations"

urlpatterns = [
    path("", views.remediation_list, name="list"),
]
