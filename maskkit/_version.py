"""The package version, in its own module so edges can read it without importing the package hub."""

__version__ = "0.1.0"
