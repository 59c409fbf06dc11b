"""Known crawlers, told from readers by their User-Agent, so that they are shown counts without
adding to them.

A request is a bot's when crawlerdetect knows its User-Agent: search engines, link previews, feed
fetchers, monitors, headless browsers, and the HTTP tools and libraries scripts use (curl, Wget,
python-requests), since a script is not a reader. So is one with no User-Agent, or an empty one:
every browser and reader's proxy sends one, and what sends none is a script. So is one longer than
MAX_AGENT characters, which no browser's is; it is not matched at all, since crawlerdetect's time
grows faster than the length (60 ms for 512 characters of letters, seconds for 8 KB).

Image proxies that fetch on a reader's behalf each time one reads are that reader, although
crawlerdetect lists them: GitHub's (github-camo), which the badges' headers make fetch on every
view of a README, and the webmail proxies that fetch a message's images when it is opened, Gmail's
(GoogleImageProxy) and Yahoo Mail's (YahooMailProxy). Those that fetch once for many readers, or
whether anyone reads or not, stay bots: link previews (Slack, Discord, social networks) and Apple
Mail's privacy prefetch (NetworkingExtension). With COUNTER_COUNT_BOTS every request counts.

A CrawlerDetect instance keeps its last match on itself, so none is shared between gunicorn's
threads: each User-Agent is checked by an instance of its own, and the verdicts on the last
CACHED_AGENTS are kept (at most 2 MiB of them) in a cache that needs no lock of ours. A check
costs from 10 µs (curl) to a few hundred (a browser's), a kept verdict under 1 µs.
"""

import re

from crawlerdetect import CrawlerDetect
from django.conf import settings

from herokuapp import process_state

READER_PROXIES = re.compile(r"^github-camo \(|GoogleImageProxy|^YahooMailProxy")
MAX_AGENT = 512
CACHED_AGENTS = 4096


def is_bot(user_agent):
    """Whether ``user_agent`` (a User-Agent header, "" if there is none) is a known crawler's."""
    user_agent = user_agent.strip()
    return not user_agent or len(user_agent) > MAX_AGENT or listed(user_agent)


@process_state.cache(maxsize=CACHED_AGENTS)
def listed(user_agent):
    """Whether crawlerdetect lists ``user_agent``, and it is no reader's proxy."""
    return not READER_PROXIES.search(user_agent) and CrawlerDetect(user_agent=user_agent).is_crawler()


def uncounted(meta):
    """Whether the request of ``meta`` (a WSGI environ or request.META) is a known crawler's, to be
    shown the count without adding to it; never with COUNTER_COUNT_BOTS."""
    return not settings.COUNTER_COUNT_BOTS and is_bot(meta.get("HTTP_USER_AGENT", ""))


# crawlerdetect compiles its patterns on first use (about 20 ms), and its crawlers' pattern takes
# about 2 MiB more on its first search: both here, in gunicorn's master before it forks the
# workers, which then share them, rather than in each worker's first request. A browser's
# User-Agent reaches that search; "Mozilla/5.0" alone is removed as an exclusion before it.
CrawlerDetect(user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36").is_crawler()
