"""The `fidele` command: a thin front on Django's management commands.

`fidele import contacts FILE` runs the `import` management command, and so on;
`fidele help` lists them all.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidele.config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["fidele", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
