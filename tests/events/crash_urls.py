"""The project's URLs plus a view that changes a record through its real service and then fails: the request's
transaction (ATOMIC_REQUESTS) must take the change's event and its deferred job down with it."""

from django.urls import path
from rest_framework.views import APIView

from clinical.services.cases import case_open
from config.urls import urlpatterns as project_urls


class OpenThenFail(APIView):
    read_scopes = write_scopes = ["clinical:write"]
    allowed_roles = ["clinician"]

    def post(self, request):
        from clinical.models import Client

        case_open(actor=request.user, subject_type="individual", client=Client.objects.get(pk=request.data["client"]))
        raise RuntimeError("after the event was recorded and its job deferred")


urlpatterns = [path("api/v1/open-then-fail/", OpenThenFail.as_view()), *project_urls]
