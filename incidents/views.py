# Pages for incidents: being written.
from django.http import HttpResponse


def incident_list(request):
    return HttpResponse("")


def incident_new(request):
    return HttpResponse("")


def incident_detail(request, pk):
    return HttpResponse("")
