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
    path("<int:pk>/notes/", views.incident_note, name="note"),
    path("<int:pk>/archive/", views.incident_archive, name="archive"),
    path("<int:pk>/unarchive/", views.incident_unarchive, name="unarchive"),
    path("<int:pk>/deploys/link/", views.incident_link, name="link"),
    path("<int:pk>/deploys/unlink/", views.incident_unlink, name="unlink"),
    path("<int:pk>/postmortem/", views.postmortem, name="postmortem"),
    path("<int:pk>/postmortem/start/", views.postmortem_start, name="postmortem_start"),
    path("<int:pk>/postmortem/edit/", views.postmortem_edit, name="postmortem_edit"),
    path("<int:pk>/postmortem/status/", views.postmortem_status, name="postmortem_status"),
    path("<int:pk>/postmortem/history/", views.postmortem_history, name="postmortem_history"),
    path("<int:pk>/postmortem/export.md", views.postmortem_export, name="postmortem_export"),
    path("<int:pk>/postmortem/print/", views.postmortem_print, name="postmortem_print"),
    path("<int:pk>/postmortem/remediations/new/", views.remediation_new, name="remediation_new"),
    # The post-mortem editor's live preview: Markdown in, sanitized HTML out.
    path("preview/", views.markdown_preview, name="preview"),
]
