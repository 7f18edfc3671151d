"""The package version, in a module of its own so that any layer can read it without importing the package root
(whose lazy public names reach up into the model)."""

__version__ = "0.1.0"
