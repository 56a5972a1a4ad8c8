"""``python -m aidot`` runs the ``aidot`` command."""

from aidot.cli import main

main()
