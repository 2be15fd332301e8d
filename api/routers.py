"""How every resource's routes are registered: one router, DRF's own, with one rule added."""

import re

from rest_framework.routers import DefaultRouter

# An action named like a file (`outcomes/chart.png`, `outcomes.csv`) is a document, not a collection: its URL takes
# no trailing slash.
FILE_NAME = re.compile(r"\.[a-z0-9]+$")


class Router(DefaultRouter):
    include_root_view = False
    # No `staff.json`-style aliases: every route is one the contract documents (tests/api/test_access_matrix.py).
    include_format_suffixes = False

    def __init__(self):
        super().__init__(trailing_slash=True)

    def _get_dynamic_route(self, route, action):
        made = super()._get_dynamic_route(route, action)
        if FILE_NAME.search(action.url_path):
            made = made._replace(url=made.url.replace("{trailing_slash}", ""))
        return made
