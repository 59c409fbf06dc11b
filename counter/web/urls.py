from django.urls import path, re_path

from counter.web import api, badge_views, stats, views

urlpatterns = [
    path("", views.index, name="index"),
    path("api/v1/openapi.json", api.openapi, name="api-openapi"),
    path("api/v1/counters", api.create, name="api-create"),
    path("api/v1/counters/<str:namespace>/<str:key>", api.detail, name="api-counter"),
    path("api/v1/counters/<str:namespace>/<str:key>/hit", api.hit, name="api-hit"),
    path("api/v1/counters/<str:namespace>/<str:key>/reset", api.reset, name="api-reset"),
    path("api/v1/counters/<str:namespace>/<str:key>/export", api.export, name="api-export"),
    path("badge/<str:namespace>/<str:key>/trend.svg", badge_views.trend, name="badge-trend"),
    # The key may hold dots itself: the format is what follows its last one.
    re_path(r"^badge/(?P<namespace>[^/]+)/(?P<key>[^/]+)\.(?P<format>svg|json)$", badge_views.badge, name="badge"),
    path("stats/<str:namespace>/<str:key>/", stats.page, name="stats"),
    path("stats/<str:namespace>/<str:key>/views.csv", stats.views_csv, name="stats-csv"),
]
