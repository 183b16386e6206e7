from django.urls import path

from deploys import views

app_name = "deploys"

urlpatterns = [
    path("", views.deploy_list, name="list"),
    path("<int:pk>/", views.deploy_detail, name="detail"),
    path("<int:pk>/change-record/", views.deploy_change_record, name="change_record"),
    path("changes/", views.change_list, name="changes"),
    path("changes/new/", views.change_new, name="change_new"),
    path("changes/<int:pk>/", views.change_detail, name="change"),
    path("changes/<int:pk>/edit/", views.change_edit, name="change_edit"),
]
