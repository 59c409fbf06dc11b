"""Refuse with 411 Length Required any request whose body Django would not read.

Django reads a request body as far as its Content-Length says, and one sent without it (with
Transfer-Encoding: chunked) as empty: a reset asking for 50 would set 0, and the API's 1 KiB bound
would never see the body. Such a request is refused before any view runs, whatever its path, so
that no body is ever dropped in silence; every HTTP client can send a Content-Length instead.
"""

from django.http import HttpResponse

from counter.web import api

MESSAGE = "send the request body with a Content-Length header; a body sent with Transfer-Encoding is not read"


class LengthRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "HTTP_TRANSFER_ENCODING" not in request.META:
            return self.get_response(request)
        if api.is_api(request):
            return api.error_response(411, "length_required", MESSAGE)
        return HttpResponse(f"Length Required: {MESSAGE}\n", status=411, content_type="text/plain; charset=utf-8")
