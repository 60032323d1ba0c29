"""The command line: Click commands over the Python API (commands), the options they share (options), how a
command ends and with which exit code (exits), and how progress looks (ui)."""
from autotune.cli.commands import main

__all__ = ["main"]
