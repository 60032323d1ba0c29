"""What a run reports: report.json and metadata.json built from the results (build); the run's summary, one
document for `fit --json`, `report --json`, the terminal and the reports' headline, and report.md (summary);
report.html and its plots (html, plots), the terminal view of `autotune report` (terminal), the misclassified
images' thumbnails (thumbnails), and writing the report into a bundle and reading it back (write)."""
