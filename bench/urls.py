"""The API's URLs plus the benchmark's baseline views (bench/views.py)."""

from django.urls import include, path

from config.urls import urlpatterns as api_urlpatterns

urlpatterns = [
    path("bench/", include("bench.views")),
    *api_urlpatterns,
]
