from django.urls import path, re_path

from . import views

TYPE = "(?P<resource_type>[A-Z][A-Za-z]+)"
ID = "(?P<pk>[^/]+)"

urlpatterns = [
    path("metadata", views.MetadataView.as_view(), name="fhir-metadata"),
    path("$export", views.ExportKickoffView.as_view(), name="fhir-export"),
    path("$export-status/<str:pk>", views.ExportStatusView.as_view(), name="fhir-export-status"),
    path("$export-file/<str:pk>", views.ExportFileView.as_view(), name="fhir-export-file"),
    re_path(rf"^Patient/{ID}/\$everything$", views.EverythingView.as_view(), name="fhir-everything"),
    re_path(rf"^{TYPE}/{ID}$", views.ReadView.as_view(), name="fhir-read"),
    re_path(rf"^{TYPE}$", views.SearchView.as_view(), name="fhir-search"),
    re_path(r"^(?P<rest>[\s\S]*)$", views.UnknownView.as_view(), name="fhir-unknown"),  # newlines too
]
