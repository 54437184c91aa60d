"""Evaluation: results (EvalResult, evaluate_arrays, results.json), the paper's 2.5D protocol,
prediction files, figures and reports. See docs/evaluation.md."""
