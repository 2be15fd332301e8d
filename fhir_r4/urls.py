from django.urls import path, re_path

from . import views

TYPE = "(?P<resource_type>[A-Z][A-Za-z]+)"
ID = "(?P<pk>[^/]+)"

urlpatterns = [
    path("metadata", views.MetadataView.as_view(), name="fhir-metadata"),
    re_path(rf"^Patient/{ID}/\$everything$", views.EverythingView.as_view(), name="fhir-everything"),
    re_path(rf"^{TYPE}/{ID}$", views.ReadView.as_view(), name="fhir-read"),
    re_path(rf"^{TYPE}$", views.SearchView.as_view(), name="fhir-search"),
    re_path(r"^(?P<rest>.*)$", views.UnknownView.as_view(), name="fhir-unknown"),
]
