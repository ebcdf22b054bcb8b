"""The scoreboard's result: every claim with its verdict, the verdict of each prediction,
the calibration of the stated confidences, the thresholds table and the evidence."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go

from analyses.core.result import AnalysisResult, RunMetadata
from analyses.scoreboard.claims import Claim, claim_from_dict, verdict_of
from analyses.scoreboard.tables import claims_figure
from analyses.scoreboard.thresholds import THRESHOLDS
from analyses.scoreboard.verdicts import Verdict


def headline(claims: list[Claim]) -> Claim | None:
    """The part of a prediction that stands for it in the calibration: the first part with a
    stated confidence (the prediction's own first reading; nested or related parts are not
    independent outcomes)."""
    return next((c for c in claims if c.confidence is not None), None)


@dataclass(kw_only=True)
class ScoreboardResult(AnalysisResult):
    """Verdicts on every prediction.

    Attributes:
        predictions: ID -> text, as read.
        claims: every testable part of every prediction, in file order.
        quick: small samples (``--quick``): the verdicts are provisional.
        evidence: name -> the experiment's result (``AnalysisResult``), or an object with
            ``as_dict()``, or numbers (dict).
    """

    predictions: dict[str, str]
    claims: list[Claim]
    quick: bool
    evidence: dict

    @classmethod
    def load(cls, folder: str | Path) -> ScoreboardResult:
        """A saved scoreboard (its ``result.json``) read back: metadata, predictions and
        claims (the evidence stays in the file)."""
        saved = json.loads((Path(folder) / "result.json").read_text())
        metadata, numbers = saved["metadata"], saved["numbers"]
        return cls(
            metadata=RunMetadata.from_json(metadata),
            predictions=numbers["predictions"],
            claims=[claim_from_dict(c) for c in numbers["claims"]],
            quick=numbers["quick"],
            evidence={},
        )

    @property
    def sample(self) -> str:
        return "QUICK (small samples; provisional)" if self.quick else "full samples"

    def claims_of(self, pid: str) -> list[Claim]:
        return [c for c in self.claims if c.id == pid]

    def verdicts(self) -> dict[str, str]:
        return {pid: verdict_of(self.claims_of(pid)) for pid in self.predictions}

    def calibration(self) -> dict[str, dict]:
        """Per stated confidence: of the predictions whose headline part was decided, how
        many held. One outcome per prediction (its headline: ``headline``)."""
        out: dict[str, dict] = {}
        for pid in self.predictions:
            claim = headline(self.claims_of(pid))
            if claim is None or not claim.verdict.decided:
                continue
            entry = out.setdefault(f"{claim.confidence:.2f}", {"held": 0, "decided": 0, "ids": []})
            entry["decided"] += 1
            entry["held"] += claim.verdict == Verdict.HOLDS
            entry["ids"].append(pid)
        return dict(sorted(out.items()))

    def numbers(self) -> dict:
        evidence = {}
        for name, e in self.evidence.items():
            if isinstance(e, AnalysisResult):
                evidence[name] = e.numbers()
            elif hasattr(e, "as_dict"):
                evidence[name] = e.as_dict()
        return {
            "sample": self.sample,
            "quick": self.quick,
            "verdicts": self.verdicts(),
            "claims": [c.as_dict() for c in self.claims],
            "predictions": self.predictions,
            "calibration": self.calibration(),
            "thresholds": [t.as_dict() for t in THRESHOLDS.values()],
            "evidence": evidence,
        }

    def figures(self) -> dict[str, go.Figure]:
        return {"scoreboard": claims_figure(self)}

    def summary(self) -> str:
        lines = [f"Predictions scoreboard ({self.sample})"]
        for pid, verdict in self.verdicts().items():
            lines.append(f"  {pid:4s} {verdict}")
            for c in self.claims_of(pid):
                measured = "" if c.measured is None else f": {c.measured}"
                part = f"{c.part}: " if c.part else ""
                method = "" if c.measured is None else f" [{c.measured.method}]"
                lines.append(f"         {part}{c.verdict}{measured}{method}")
        counts = Counter(v.split(":")[0] for v in self.verdicts().values())
        lines.append("  predictions: " + ", ".join(f"{v} {n}" for v, n in counts.most_common()))
        return "\n".join(lines)
