from django.urls import path

from postmortems import views

app_name = "postmortems"

# Mounted at the site root: a post-mortem lives under its incident's URL, the lists at their own.
urlpatterns = [
    path("postmortems/", views.postmortem_list, name="list"),
    path("incidents/<int:pk>/postmortem/", views.postmortem, name="detail"),
    path("incidents/<int:pk>/postmortem/start/", views.postmortem_start, name="start"),
    path("incidents/<int:pk>/postmortem/edit/", views.postmortem_edit, name="edit"),
    path("incidents/<int:pk>/postmortem/status/", views.postmortem_status, name="status"),
    path("incidents/<int:pk>/postmortem/history/", views.postmortem_history, name="history"),
    path("incidents/<int:pk>/postmortem/export.md", views.postmortem_export, name="export"),
    path("incidents/<int:pk>/postmortem/print/", views.postmortem_print, name="print"),
    path("incidents/<int:pk>/postmortem/remediations/new/", views.remediation_new, name="remediation_new"),
    # The post-mortem editor's live preview: Markdown in, sanitized HTML out.
    path("incidents/preview/", views.markdown_preview, name="preview"),
    path("remediations/", views.remediation_list, name="remediations"),
    path("remediations/<int:pk>/edit/", views.remediation_edit, name="remediation_edit"),
    path("remediations/<int:pk>/delete/", views.remediation_delete, name="remediation_delete"),
]
