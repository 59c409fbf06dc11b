"""Server-rendered SVG charts, so that the stats page needs no script and no CDN.

The SVG is drawn inline in the page: its colours come from the site's stylesheet (classes, no
style attributes), so it follows the light and dark schemes and passes the strict CSP.
"""

from html import escape

WIDTH, HEIGHT = 720, 240
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 56, 28, 12


def bar_chart(points, label, bots=()):
    """A bar per (day, value) in ``points``, with the largest value and the first and last days
    marked. ``bots``, (day, bots) for the same days, are stacked on the bars in a colour of their
    own wherever a day has any, and then a key says which is which."""
    plot_width = WIDTH - MARGIN_LEFT
    plot_height = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    stacked = dict(bots)
    top = max([value + stacked.get(day, 0) for day, value in points] + [1])
    slot = plot_width / max(len(points), 1)
    bars = []
    for index, (day, value) in enumerate(points):
        height = plot_height * max(value, 0) / top
        x = MARGIN_LEFT + index * slot + slot * 0.15
        y = MARGIN_TOP + plot_height - height
        bars.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}">'
            f"<title>{day.isoformat()}: {value:,}</title></rect>"
        )
        if (on_top := stacked.get(day, 0)) > 0:
            bot_height = plot_height * on_top / top
            bars.append(
                f'<rect class="bar bots" x="{x:.1f}" y="{y - bot_height:.1f}" width="{slot * 0.7:.1f}" height="{bot_height:.1f}">'
                f"<title>{day.isoformat()}: {on_top:,} bot{'s' if on_top != 1 else ''}</title></rect>"
            )
    baseline = MARGIN_TOP + plot_height
    first, last = (points[0][0].isoformat(), points[-1][0].isoformat()) if points else ("", "")
    key = (
        f'<text class="tick key" x="{(MARGIN_LEFT + WIDTH) / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle">'
        '<tspan class="views">views</tspan> <tspan class="bots">bots</tspan></text>'
        if any(value > 0 for value in stacked.values())
        else ""
    )
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
        f'<line class="axis" x1="{MARGIN_LEFT}" y1="{baseline}" x2="{WIDTH}" y2="{baseline}"/>'
        f'<line class="grid" x1="{MARGIN_LEFT}" y1="{MARGIN_TOP}" x2="{WIDTH}" y2="{MARGIN_TOP}"/>'
        f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{MARGIN_TOP + 4}" text-anchor="end">{top:,}</text>'
        f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{baseline}" text-anchor="end">0</text>'
        f'<text class="tick" x="{MARGIN_LEFT}" y="{HEIGHT - 8}">{first}</text>'
        f'<text class="tick" x="{WIDTH}" y="{HEIGHT - 8}" text-anchor="end">{last}</text>'
        + key
        + "".join(bars)
        + "</svg>"
    )
