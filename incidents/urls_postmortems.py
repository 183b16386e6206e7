from django.urls import path

from incidents import views

app_name = "postmortems"

urlpatterns = [
    path("", views.postmortem_list, name="list"),
]
