"""What a counter's stats page offers to paste into another site: a Markdown badge, the badge in
HTML for GitHub's light and dark themes, and JavaScript that counts a view and shows the value;
and the previews of them, which read the counter without counting.

The snippets' URLs are absolute, as the request reached the app: behind Heroku's router,
SECURE_PROXY_SSL_HEADER makes them https. The previews' are paths on this site, which the
Content-Security-Policy allows.
"""

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

LABEL = "views"
DARK_MEDIA = "(prefers-color-scheme: dark)"

HTML = """\
<a href="{stats}">
  <picture>
    <source media="{dark_media}" srcset="{dark_badge}">
    <img src="{badge}" alt="{label}">
  </picture>
</a>"""

JAVASCRIPT = """\
<span id="views"></span>
<script>
  fetch({hit}, {{method: "POST"}})
    .then((response) => response.json())
    .then((counter) => {{ document.getElementById("views").textContent = counter.value; }});
</script>"""


@dataclass(frozen=True)
class Snippets:
    markdown: str
    html: str
    javascript: str


@dataclass(frozen=True)
class Previews:
    """Where the previews read: the badges with ``action=get`` (the dark one under ``dark_media``),
    and the API's reading of the value."""

    badge: str
    dark_badge: str
    value: str
    dark_media: str = DARK_MEDIA


def badge_path(namespace, key, **query):
    path = reverse("badge", kwargs={"namespace": namespace, "key": key, "format": "svg"})
    return f"{path}?{urlencode(query)}" if query else path


def for_counter(request, namespace, key):
    """The snippets of the counter, their URLs on the host and scheme ``request`` came by."""
    counter = {"namespace": namespace, "key": key}
    absolute = request.build_absolute_uri
    badge, dark_badge = absolute(badge_path(namespace, key)), absolute(badge_path(namespace, key, theme="dark"))
    stats = absolute(reverse("stats", kwargs=counter))
    return Snippets(
        markdown=f"[![{LABEL}]({badge})]({stats})",
        html=HTML.format(stats=stats, dark_media=DARK_MEDIA, dark_badge=dark_badge, badge=badge, label=LABEL),
        javascript=JAVASCRIPT.format(hit=json.dumps(absolute(reverse("api-hit", kwargs=counter)))),
    )


def previews(namespace, key):
    return Previews(
        badge=badge_path(namespace, key, action="get"),
        dark_badge=badge_path(namespace, key, theme="dark", action="get"),
        value=reverse("api-counter", kwargs={"namespace": namespace, "key": key}),
    )
