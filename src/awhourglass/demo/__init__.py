"""``awh demo``: the paper's experiment on the embedded two-domain benchmark, from nothing to ``report.md``."""
