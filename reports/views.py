# Dashboard pages: being written.
from django.shortcuts import redirect


def dashboard(request):
    return redirect("deploys:list")


def how_we_count(request):
    return redirect("deploys:list")
