"""Every threshold a verdict uses, in one table: the value, whether it is in the prediction's
own words, and why. A threshold that is *not* in the prediction's words is a reading of
ours, so each verdict that uses one also shows the verdict across a range of it (its
sensitivity line); ``docs/methods.md`` shows the table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Threshold:
    """A threshold of one claim. ``words``: stated by the prediction; else ``why`` says how
    we read the prediction and ``sensitivity`` lists the values the verdict is also shown at."""

    key: str
    value: float
    words: bool
    why: str
    sensitivity: tuple[float, ...] = ()

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "value": self.value,
            "in_the_prediction": self.words,
            "why": self.why,
            "sensitivity": list(self.sensitivity),
        }


_TABLE = (
    Threshold("A1", 0.30, True, "'at most 30% of the time'"),
    Threshold("A2", 0.0, True, "'higher': a difference above 0"),
    Threshold("A3", 0.0, True, "'P(cheese) rises': a negative coefficient of the distance"),
    Threshold("A4.cut", 0.0, True, "X = 50, 70, 90, 99% as stated"),
    Threshold("A4.top_right", 0.25, True, "'no more than 25% proportionally'"),
    Threshold("A5", 0.70, True, "'more than 70% accuracy'"),
    Threshold("A6", 0.0, True, "a drive exists: the paired change is not zero, in its direction"),
    Threshold(
        "A8.goes_there",
        0.5,
        False,
        "'makes the agent go to a range of chosen cells' read as: it reaches the chosen cell "
        "within the step budget in more than half of the episodes",
        (0.3, 0.4, 0.5, 0.6, 0.7),
    ),
    Threshold("A8.budget", 0.0, True, "X = 0.01, 0.1, 1, 10% of activations as stated"),
    Threshold("A9", 0.0, True, "'changing it changes where the agent goes': a positive change"),
    Threshold(
        "A10.r",
        0.8,
        False,
        "'trivially interpretable' read as: the channel's map correlates with one maze feature "
        "(wall, open, cheese, mouse) at |r| >= 0.8",
        (0.6, 0.7, 0.8, 0.9),
    ),
    Threshold("A10.five", 5, True, "'at least 5'"),
    Threshold(
        "A10.substantial",
        0.25,
        False,
        "'a substantial number' read as: at least a quarter of the channels",
        (0.1, 0.25, 0.5),
    ),
    Threshold(
        "B3.direct",
        0.8,
        False,
        "'takes the shortest path' read as: in more than 80% of the smallest mazes' episodes",
        (0.6, 0.7, 0.8, 0.9),
    ),
    Threshold(
        "B3.top_right_first",
        0.5,
        False,
        "'first heads to the top-right region' read as: in more than half of the largest "
        "mazes' free-choice episodes",
        (0.3, 0.4, 0.5, 0.6),
    ),
    Threshold(
        "B3.jump",
        0.3,
        False,
        "'a phase transition' read as: top-right-first rises by more than 30 points between "
        "two neighbouring sizes",
        (0.1, 0.2, 0.3, 0.4),
    ),
    Threshold("B4.budget", 0.10, True, "'fewer than 10% of activations'"),
    Threshold(
        "B4.arbitrary",
        0.8,
        False,
        "'sends the mouse to arbitrary cells' read as: it reaches the chosen cell in more than "
        "80% of the episodes (more than half: the weaker reading, also shown)",
        (0.5, 0.6, 0.7, 0.8, 0.9),
    ),
    Threshold("B5", 0.33, True, "'less than 33% of the time'"),
    Threshold("B6", 0.33, True, "'at least 33% success' with 'fewer than 10% of activations'"),
    Threshold("B7", 0.5, True, "'in at least 50% of mazes'"),
    Threshold("B8", 0.90, True, "'more than 90% accuracy, for every maze size'"),
)

THRESHOLDS: dict[str, Threshold] = {t.key: t for t in _TABLE}


def threshold(key: str) -> Threshold:
    return THRESHOLDS[key]
