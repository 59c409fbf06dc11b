from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from counter.backends import get_counter

PAGE = "index"


@never_cache
@require_safe
def index(request):
    """The home page, which counts its own views. A HEAD request shows the count without adding one."""
    counter = get_counter()
    views = counter.hit(PAGE) if request.method == "GET" else counter.get(PAGE)
    response = render(request, "counter/index.html", {"views": views, "views_display": f"{views:,}"})
    if request.method == "HEAD":
        response.content = b""  # a server must not send a body in answer to HEAD
    return response
