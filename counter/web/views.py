from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from counter.engine.base import CounterUnavailable, get_store
from counter.features import bots, page_image
from counter.web.page import COUNTED, PAGE, Counted
from herokuapp.health import RETRY_AFTER_SECONDS


def count(request):
    """Count a GET (a HEAD, or a known crawler's GET, shows the count without adding one); views is
    None if nothing can count."""
    counter = get_store()
    counting = request.method == "GET" and not bots.uncounted(request.META)
    try:
        return Counted(counter.hit(PAGE) if counting else counter.get(PAGE))
    except CounterUnavailable:
        return Counted(None)


@never_cache
@require_safe
def index(request):
    """The home page, which counts its own views. counter.web.page usually answers it before Django
    does, from this view's own rendering; when it has counted the view, it hands over the count."""
    counted = request.META.get(COUNTED) or count(request)
    if counted.views is None:
        response = render(request, "503.html", status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    context = {"views": counted.views, "views_display": counted.display, "image": page_image.current()}
    return render(request, "counter/index.html", context)
