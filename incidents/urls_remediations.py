from django.urls import path

from incidents import views

app_name = "remediations"

urlpatterns = [
    path("", views.remediation_list, name="list"),
    path("<int:pk>/edit/", views.remediation_edit, name="edit"),
    path("<int:pk>/delete/", views.remediation_delete, name="delete"),
]
