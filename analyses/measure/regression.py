"""The behaviour regression: an L1-regularised logistic regression of "reached the cheese"
on maze features over repeated stratified splits, its coefficients' signs and stability,
variance inflation factors (collinear features cannot be told apart), and a maze bootstrap
of the whole fit: the coefficients' intervals, and how often L1 keeps each feature."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sklearn
from jaxtyping import Bool, Float, Int
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from analyses.core.inputs import NotApplicable
from analyses.measure.behaviour import PUBLISHED_FEATURES
from hooked_impala import checks

HIGH_VIF = 10.0  # the usual rule of thumb: above it a coefficient is poorly identified
MIN_PER_OUTCOME = 5  # fewer mazes of one outcome cannot be split into train and test sensibly
TEST_FRACTION = 0.2  # the paper's 8,000 / 2,000 split
#: Resamples of the maze bootstrap of the whole fit. A 95% percentile interval's ends are
#: the 2.5% and 97.5% quantiles: 200 resamples put 5 beyond each, enough for an interval
#: read to about a tenth of its width, at ~10 ms a fit on a few thousand mazes.
BOOTSTRAP_RESAMPLES = 200


def variance_inflation(x: Float[np.ndarray, "n k"]) -> Float[np.ndarray, " k"]:
    """Variance inflation factor of each column: ``1 / (1 − R²_j)``, R²_j of the least-squares
    regression of column j on the others (with an intercept). 1 = uncorrelated with the rest;
    ``inf`` = an exact linear combination of them; NaN for a constant column."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"variance_inflation takes an (n, k) matrix, got shape {x.shape}")
    centred = x - x.mean(axis=0)  # centring is the intercept
    vif = np.ones(x.shape[1])
    if x.shape[1] < 2:
        return vif
    for j in range(x.shape[1]):
        target, others = centred[:, j], np.delete(centred, j, axis=1)
        total = float(target @ target)
        if total <= 1e-12 * max(1.0, float(np.abs(x[:, j]).max()) ** 2 * len(x)):
            vif[j] = np.nan
            continue
        beta, *_ = np.linalg.lstsq(others, target, rcond=None)
        residual = float(np.sum((target - others @ beta) ** 2))
        vif[j] = np.inf if residual <= 1e-12 * total else total / residual  # = 1 / (1 − R²)
    return vif


def _l1_logistic(c: float, seed: int) -> Pipeline:
    # scikit-learn 1.8 deprecated ``penalty`` for ``l1_ratio``; before it l1_ratio alone
    # would silently fit an L2 model.
    version = tuple(int(p) for p in sklearn.__version__.split(".")[:2])
    l1 = {"l1_ratio": 1.0} if version >= (1, 8) else {"penalty": "l1"}
    return make_pipeline(
        StandardScaler(), LogisticRegression(solver="liblinear", C=c, random_state=seed, **l1)
    )


def check_outcomes(outcome: np.ndarray, where: str) -> None:
    reached = int(outcome.sum())
    missed = len(outcome) - reached
    if min(reached, missed) < MIN_PER_OUTCOME:
        raise NotApplicable(
            f"the regression needs at least {MIN_PER_OUTCOME} mazes of each outcome: {where}"
            f"{reached} reached the cheese and {missed} did not"
        )


def _sign_table(
    coefs: Float[np.ndarray, "splits k"], names: Sequence[str], vif: Float[np.ndarray, " k"]
) -> pd.DataFrame:
    splits = len(coefs)
    positive, negative = (coefs > 0).sum(0), (coefs < 0).sum(0)
    sign = np.where(positive > negative, 1, np.where(negative > positive, -1, 0))
    tie = (positive == negative) & (positive > 0)
    sign = np.where(tie, np.sign(coefs.sum(0)).astype(int), sign)
    agreeing = np.where(sign > 0, positive, np.where(sign < 0, negative, 0))
    table = pd.DataFrame(
        {
            "mean": coefs.mean(0),
            "sd": coefs.std(0),
            "majority_sign": sign,
            "sign_stability": agreeing / splits,
            "zero_fraction": (coefs == 0).sum(0) / splits,
            "vif": vif,
        },
        index=pd.Index(list(names), name="feature"),
    )
    return table.iloc[np.argsort(-np.abs(table["mean"].to_numpy()), kind="stable")]


@dataclass(frozen=True)
class BehaviourFit:
    """Held-out performance and coefficients of the L1 logistic regression over ``splits``
    random train/test splits (the same splits for every feature set).

    Attributes:
        features: the columns, in order.
        n, n_reached: mazes, and how many reached the cheese.
        accuracy: ``(splits,)`` held-out accuracy with every feature.
        baseline: ``(splits,)`` accuracy of predicting the training split's majority class.
        published: ``(splits,)`` accuracy with :data:`PUBLISHED_FEATURES`, or None when the
            table lacks some of them.
        single: ``(features, splits)`` accuracy with each feature alone.
        coefficients: ``(splits, features)`` standardised coefficients of the full model.
        published_coefficients, published_vif: ``(splits, 4)`` coefficients of the
            four-feature model and ``(4,)`` VIFs among those four (None when ``published`` is).
        vif: ``(features,)`` variance inflation factors over all mazes.
        full_coefficients: ``(features,)`` standardised coefficients of the full model fitted
            on every maze (the estimate the bootstrap brackets).
        bootstrap_coefficients: ``(resamples, features)`` the same fit on mazes resampled
            with replacement (:func:`bootstrap_fit`); None when not bootstrapped.
    """

    features: tuple[str, ...]
    n: int
    n_reached: int
    test_fraction: float
    c: float
    accuracy: Float[np.ndarray, " splits"]
    baseline: Float[np.ndarray, " splits"]
    published: Float[np.ndarray, " splits"] | None
    single: Float[np.ndarray, "features splits"]
    coefficients: Float[np.ndarray, "splits features"]
    vif: Float[np.ndarray, " features"]
    published_coefficients: Float[np.ndarray, "splits 4"] | None = None
    published_vif: Float[np.ndarray, " 4"] | None = None
    full_coefficients: Float[np.ndarray, " features"] | None = None
    bootstrap_coefficients: Float[np.ndarray, "resamples features"] | None = None

    @property
    def splits(self) -> int:
        return len(self.accuracy)

    @property
    def bootstrap_resamples(self) -> int:
        """How many resampled fits the bootstrap made (0 when it did not run)."""
        return 0 if self.bootstrap_coefficients is None else len(self.bootstrap_coefficients)

    def bootstrap_table(self) -> pd.DataFrame:
        """One row per feature, in the features' order: ``estimate`` (the full-data
        coefficient), ``low``/``high`` (the 95% percentile interval over the maze
        resamples), ``selected`` (the fraction of resamples where L1 kept it non-zero: how
        a zeroed coefficient is read, never as an interval "0 to 0"), ``vif``, and
        ``identifiable`` (VIF <= 10; an exact linear combination of the others, VIF inf,
        or a constant feature, VIF NaN, is not). ValueError when not bootstrapped."""
        if self.bootstrap_coefficients is None or self.full_coefficients is None:
            raise ValueError("this fit was not bootstrapped (fit_behaviour(bootstrap=0))")
        boot = self.bootstrap_coefficients
        low, high = np.percentile(boot, [2.5, 97.5], axis=0)
        vif = np.asarray(self.vif, dtype=float)
        return pd.DataFrame(
            {
                "estimate": self.full_coefficients,
                "low": low,
                "high": high,
                "selected": (boot != 0).mean(0),
                "vif": vif,
                "identifiable": np.isfinite(vif) & (vif <= HIGH_VIF),
            },
            index=pd.Index(list(self.features), name="feature"),
        )

    def coefficient_table(self, published: bool = False) -> pd.DataFrame:
        """One row per feature of the full model (``published``: of the four-feature model):
        mean and sd of the coefficient over splits, the majority sign of its non-zero values
        (a tie goes to the sign of the sum; 0 if always zero), the fraction of splits with
        that sign, the fraction where L1 set it to zero, and the VIF among the model's
        features; sorted by |mean|, largest first."""
        if not published:
            return _sign_table(self.coefficients, self.features, self.vif)
        if self.published_coefficients is None or self.published_vif is None:
            raise ValueError("the features lack some of the published four: no such fit")
        return _sign_table(self.published_coefficients, PUBLISHED_FEATURES, self.published_vif)

    def high_vif(self, threshold: float = HIGH_VIF) -> list[str]:
        """Features whose VIF exceeds ``threshold`` (their signs are not identifiable); a
        constant feature (VIF NaN) is not counted."""
        return [f for f, v in zip(self.features, self.vif) if v > threshold]


def bootstrap_fit(
    x: Float[np.ndarray, "n k"],
    y: Int[np.ndarray, " n"],
    c: float,
    seed: int,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> tuple[Float[np.ndarray, " k"], Float[np.ndarray, "resamples k"]]:
    """The whole fit (standardise, then L1 logistic) on every row of ``x`` ``(n, k)`` (one
    maze a row) and on ``resamples`` resamples of the rows with replacement (seeded by
    ``seed``): ``(k,)`` full-data coefficients and ``(resamples, k)`` resampled ones. A
    resample with one outcome only cannot be fitted and is drawn again (it is rare with
    :data:`MIN_PER_OUTCOME` of each)."""
    resamples = checks.integer("resamples", resamples, minimum=1)
    full = _l1_logistic(c, seed).fit(x, y)[-1].coef_[0].copy()
    rng = np.random.default_rng([seed, 0xB00])  # its own stream: not the splits' draws
    coefs = np.empty((resamples, x.shape[1]))
    done = tries = 0
    while done < resamples:
        tries += 1
        if tries > 20 * resamples:
            raise NotApplicable("the maze bootstrap keeps drawing one outcome only")
        rows = rng.integers(len(y), size=len(y))
        if y[rows].min() == y[rows].max():
            continue
        coefs[done] = _l1_logistic(c, seed).fit(x[rows], y[rows])[-1].coef_[0]
        done += 1
    return full, coefs


def fit_behaviour(
    features: pd.DataFrame,
    outcome: Bool[np.ndarray, " n"] | Int[np.ndarray, " n"],
    *,
    splits: int = 20,
    seed: int = 0,
    c: float = 1.0,
    test_fraction: float = TEST_FRACTION,
    bootstrap: int = BOOTSTRAP_RESAMPLES,
) -> BehaviourFit:
    """Fit ``StandardScaler → L1 LogisticRegression(C=c)`` on ``splits`` stratified random
    splits (``test_fraction`` held out, seeded by ``seed``) with all columns of ``features``
    ``(n, k)``, with each column alone and with :data:`PUBLISHED_FEATURES` when present;
    ``outcome`` ``(n,)``: 1/True = reached the cheese. ``bootstrap``: resamples of the maze
    bootstrap of the whole fit (:func:`bootstrap_fit`; 0 = none)."""
    if not isinstance(features, pd.DataFrame) or features.shape[1] == 0:
        raise ValueError("features must be a pandas DataFrame with at least one column")
    splits = checks.integer("splits", splits, minimum=1)
    bootstrap = checks.integer("bootstrap", bootstrap, minimum=0)
    seed = checks.integer("seed", seed, minimum=0, maximum=checks.MAX_SEED)
    c = checks.real("c", c)
    if c <= 0:
        raise ValueError(f"c (the inverse L1 strength) must be > 0, got {c}")
    test_fraction = checks.real("test_fraction", test_fraction)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    y = np.asarray(outcome)
    if y.shape != (len(features),):
        raise ValueError(f"outcome must have shape ({len(features)},), got {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("outcome must be boolean or 0/1 (1 = reached the cheese)")
    y = y.astype(int)
    x = features.to_numpy(dtype=float)
    bad = [name for name, ok in zip(features.columns, np.isfinite(x).all(0)) if not ok]
    if bad:
        raise ValueError(f"features {', '.join(map(str, bad))} have missing or infinite values")
    check_outcomes(y, f"of {len(y)} mazes, ")
    names = tuple(str(c) for c in features.columns)
    splitter = StratifiedShuffleSplit(n_splits=splits, test_size=test_fraction, random_state=seed)
    folds = list(splitter.split(x, y))

    def accuracy(columns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        scores, coefs = [], []
        for train, test in folds:
            model = _l1_logistic(c, seed).fit(x[train][:, columns], y[train])
            scores.append(model.score(x[test][:, columns], y[test]))
            coefs.append(model[-1].coef_[0])
        return np.array(scores), np.array(coefs)

    full, coefficients = accuracy(list(range(len(names))))
    baseline = np.array(
        [np.mean(y[test] == int(2 * y[train].sum() >= len(train))) for train, test in folds]
    )
    published = published_coefficients = published_vif = None
    if set(PUBLISHED_FEATURES) <= set(names):
        four = [names.index(f) for f in PUBLISHED_FEATURES]
        published, published_coefficients = accuracy(four)
        published_vif = variance_inflation(x[:, four])
    single = np.stack([accuracy([j])[0] for j in range(len(names))])
    full_coefficients = boot = None
    if bootstrap:
        full_coefficients, boot = bootstrap_fit(x, y, c, seed, bootstrap)
    return BehaviourFit(
        features=names,
        n=len(y),
        n_reached=int(y.sum()),
        test_fraction=test_fraction,
        c=c,
        accuracy=full,
        baseline=baseline,
        published=published,
        single=single,
        coefficients=coefficients,
        vif=variance_inflation(x),
        published_coefficients=published_coefficients,
        published_vif=published_vif,
        full_coefficients=full_coefficients,
        bootstrap_coefficients=boot,
    )
