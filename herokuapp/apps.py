from django.apps import AppConfig


class HerokuappConfig(AppConfig):
    name = "herokuapp"

    def ready(self):
        from herokuapp import checks  # noqa: F401  (registers the service checks)
