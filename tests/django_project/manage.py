#!/usr/bin/env python
"""Django's command-line utility for the test project (``python django_project/manage.py``)."""

import os
import sys
from pathlib import Path


def main() -> None:
    # The project package lives in tests/, one level up from this file.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
