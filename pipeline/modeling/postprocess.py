"""A regressor whose predictions are clipped to a range and rounded, as ``model.output`` declares.

It wraps the fitted estimator inside the model artifact, so the same post-processing applies in
evaluation, batch scoring and serving without any of them knowing about it, and the version's
stored parameters record it.  Training fits the inner regressor on the raw target: clipping is a
statement about what may be served (a price is never negative), not a change to what is learnt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone


class PostProcessedRegressor(RegressorMixin, BaseEstimator):
    """``regressor``'s predictions clipped to ``[clip_min, clip_max]``, then rounded to ``round_decimals``."""

    def __init__(
        self,
        regressor: Any,
        clip_min: float | None = None,
        clip_max: float | None = None,
        round_decimals: int | None = None,
    ) -> None:
        self.regressor = regressor
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.round_decimals = round_decimals

    def fit(self, X: Any, y: Any, **fit_params: Any) -> PostProcessedRegressor:
        self.regressor_ = clone(self.regressor).fit(X, y, **fit_params)
        self.n_features_in_ = getattr(self.regressor_, "n_features_in_", np.shape(X)[1])
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.post_process(self.regressor_.predict(X))

    def post_process(self, values: Any) -> np.ndarray:
        """Apply the clip and the rounding to raw predictions (what :meth:`predict` does)."""
        out = np.asarray(values, dtype=np.float64)
        if self.clip_min is not None or self.clip_max is not None:
            out = np.clip(out, self.clip_min, self.clip_max)
        if self.round_decimals is not None:
            out = np.round(out, self.round_decimals)
        return out
