from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("new/", views.incident_new, name="new"),
    path("<int:pk>/", views.incident_detail, name="detail"),
    path("<int:pk>/edit/", views.incident_edit, name="edit"),
    # stage: acknowledged, mitigated or resolved.
    path("<int:pk>/stamp/<slug:stage>/", views.incident_stamp, name="stamp"),
    path("<int:pk>/roles/", views.incident_role, name="role"),
    path("<int:pk>/reopen/", views.incident_reopen, name="reopen"),
    path("<int:pk>/notes/", views.incident_note, name="note"),
    path("<int:pk>/archive/", views.incident_archive, name="archive"),
    path("<int:pk>/unarchive/", views.incident_unarchive, name="unarchive"),
    path("<int:pk>/deploys/link/", views.incident_link, name="link"),
    path("<int:pk>/deploys/unlink/", views.incident_unlink, name="unlink"),
]
