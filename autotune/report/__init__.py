"""What a run reports: report.json and metadata.json built from the results (build), report.md (summary),
report.html and its plots (html, plots), and writing them into a bundle (write)."""
