from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from herokuapp import health

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("admin/", admin.site.urls),
    path("", include("counter.web.urls")),
]

# Uploads in MEDIA_ROOT are served in development only: Django's file view isn't built for
# production, and there a dyno's disk loses them on every restart anyway (see MEDIA_ROOT in
# settings). static() adds nothing unless DEBUG is on; in production, media lives on S3.
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Django's own error answers: JSON under /api/, the site's error pages (templates/4xx.html, 500.html) elsewhere.
handler400 = "counter.web.api_errors.bad_request"
handler403 = "counter.web.api_errors.permission_denied"
handler404 = "counter.web.api_errors.page_not_found"
handler500 = "counter.web.api_errors.server_error"
