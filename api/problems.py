"""The problem types that error responses name in `type`: GET one for what it means."""

from django.http import Http404, JsonResponse
from django.views.decorators.http import require_safe

from .errors import PROBLEM_TYPE_BASE, PROBLEM_TYPES


def _describe(problem):
    return {
        "type": PROBLEM_TYPE_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "description": problem.description,
    }


@require_safe
def problem_types(request):
    return JsonResponse({"problem_types": [_describe(p) for p in PROBLEM_TYPES.values()]})


@require_safe
def problem_type(request, slug):
    if slug not in PROBLEM_TYPES:
        raise Http404
    return JsonResponse(_describe(PROBLEM_TYPES[slug]))
