# The reports API: being written.
from rest_framework.response import Response
from rest_framework.views import APIView


class MonthlyReportView(APIView):
    def get(self, request):
        return Response({})


class YearlyReportView(APIView):
    def get(self, request):
        return Response({})
