"""The command line: Click commands over the Python API (commands), and how progress looks (ui)."""
from autotune.cli.commands import main

__all__ = ["main"]
