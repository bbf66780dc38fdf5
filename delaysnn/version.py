"""The package version, in a leaf module: the CLI and the data writers read it without importing
the top-level package (the facade over every layer)."""

__version__ = "0.1.0"  # also pyproject.toml's [project] version
