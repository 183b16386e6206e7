from django.urls import path

from deploys import views

app_name = "deploys"

urlpatterns = [
    path("", views.deploy_list, name="list"),
    path("<int:pk>/", views.deploy_detail, name="detail"),
    path("changes/<int:pk>/", views.change_detail, name="change"),
]
