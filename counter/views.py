from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from counter import page_image
from counter.backends import CounterUnavailable, get_counter

RETRY_AFTER_SECONDS = 5

PAGE = "index"


@never_cache
@require_safe
def index(request):
    """The home page, which counts its own views. A HEAD request shows the count without adding one."""
    counter = get_counter()
    try:
        views = counter.hit(PAGE) if request.method == "GET" else counter.get(PAGE)
    except CounterUnavailable:
        response = render(request, "503.html", status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    context = {"views": views, "views_display": f"{views:,}", "image": page_image.current()}
    response = render(request, "counter/index.html", context)
    if request.method == "HEAD":
        response.content = b""  # a server must not send a body in answer to HEAD
    return response
