"""Models and the evidence about them: scikit-learn pipelines built from config, deterministic
splits, metrics with bootstrap intervals and paired comparisons, holdout and cross-validated
evaluation, and the promotion policy that decides whether a challenger replaces the champion.
Pure functions over frames and config; no store, no workspace."""
