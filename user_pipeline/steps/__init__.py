"""Steps declared once (``registry``), run by one harness (``harness``); docs/adding-a-step.md."""
