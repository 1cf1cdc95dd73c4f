"""`python -m maskkit` is the `maskkit` command."""

from maskkit.cli import program

program()
