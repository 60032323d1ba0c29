"""report.json / report.md (summary), report.html and its plots."""
