"""`python -m maskkit` is the `maskkit` command."""

from .cli import main

main()
