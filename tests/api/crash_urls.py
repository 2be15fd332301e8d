"""The project's URLs plus two views that fail unexpectedly, to prove what a caller sees when code breaks."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urls


class BrokenAPIView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("secret internal detail")


def broken_django_view(request):
    raise RuntimeError("secret internal detail")


urlpatterns = [
    path("api/v1/broken/", BrokenAPIView.as_view()),
    path("api/broken-django/", broken_django_view),
    *project_urls,
]
