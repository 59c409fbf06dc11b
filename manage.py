#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herokuapp.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    from herokuapp.environment import exit_on_configuration_error

    with exit_on_configuration_error():
        settings.INSTALLED_APPS  # noqa: B018 (load settings now, so a bad variable is reported in one line)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
