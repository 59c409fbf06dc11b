"""Cross-Origin-Resource-Policy: same-origin on every response.

Other sites may still link to the app, but no page of theirs can load its responses as a script,
image or stylesheet (and read them through a side channel such as Spectre). Django sets the
opener policy but not this one. A view that means to share a response can set its own value.
"""


class CrossOriginResourcePolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response
