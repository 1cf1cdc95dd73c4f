"""`python -m maskkit` is the `maskkit` command."""

from maskkit.cli import main

main()
