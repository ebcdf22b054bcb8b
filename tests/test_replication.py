"""Comparing a re-run with a committed scoreboard: planted claims inside and outside the
committed interval, a changed verdict, an unmeasured claim, a claim only one run has; and the
command line on the committed run against itself (every claim inside, every verdict equal)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import REPO

from analyses.scoreboard.claims import Claim
from analyses.scoreboard.replication import agreement_line, compare, main
from analyses.scoreboard.verdicts import Verdict
from hooked_impala.stats import Estimate

FULL = REPO / "docs" / "results" / "scoreboard-model_160022528-full"


def claim(pid: str, value: float | None, verdict: Verdict = Verdict.HOLDS) -> Claim:
    measured = None if value is None else Estimate(value, value - 0.1, value + 0.1, 50)
    return Claim(pid, "", "planted", verdict, measured)


def test_inside_outside_verdicts_and_missing_claims() -> None:
    committed = SimpleNamespace(
        claims=[claim("A1", 0.5), claim("A2", 0.5), claim("A3", 0.5), claim("A4", None)]
    )
    rerun = SimpleNamespace(
        claims=[
            claim("A1", 0.55),  # inside [0.4, 0.6]
            claim("A2", 0.7),  # outside
            claim("A3", 0.45, Verdict.INCONCLUSIVE),
            claim("A4", None),
            claim("B1", 0.1),  # only in the re-run: not compared
        ]
    )
    rows = {r.id: r for r in compare(committed, rerun)}
    assert list(rows) == ["A1", "A2", "A3", "A4"]
    assert rows["A1"].inside is True and rows["A2"].inside is False
    assert rows["A3"].inside is True and not rows["A3"].same_verdict
    assert rows["A4"].inside is None and rows["A4"].same_verdict
    # A2: 0.5 [0.4, 0.6] then 0.7 [0.6, 0.8]: p = 0.0056 alone, times 3 numbers by Holm.
    assert rows["A2"].adjusted_p == pytest.approx(3 * 0.00557, abs=3e-4) and rows["A2"].disagree
    assert not rows["A1"].disagree and rows["A4"].disagree is None


def test_claims_sharing_a_committed_number_count_once() -> None:
    """Four parts measured by one number (as A4's X) are one comparison, not four."""
    parts = [
        Claim("A4", f"X = {x}", "planted", Verdict.HOLDS, Estimate(0.5, 0.4, 0.6, 50))
        for x in range(4)
    ]
    moved = [
        Claim("A4", f"X = {x}", "planted", Verdict.HOLDS, Estimate(0.7, 0.6, 0.8, 50))
        for x in range(4)
    ]
    rows = compare(SimpleNamespace(claims=parts), SimpleNamespace(claims=moved))
    assert [r.adjusted_p for r in rows] == [pytest.approx(0.00557, abs=1e-4)] * 4
    assert "of the 1 distinct numbers, the runs differ on 1" in agreement_line(rows)


def test_a_missing_or_truncated_result_is_named(tmp_path, capsys) -> None:
    import pytest

    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "result.json").write_text((FULL / "result.json").read_text()[:500])
    for folder, says in ((tmp_path / "none", "no result.json"), (cut, "not a readable")):
        with pytest.raises(SystemExit) as stop:
            main([str(FULL), str(folder)])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and str(folder) in err and says in err


def test_a_committed_run_reproduces_itself(capsys) -> None:
    assert main([str(FULL), str(FULL)]) == 0
    out = capsys.readouterr().out
    assert "**no**" not in out and "**disagree**" not in out and "verdicts the same" in out
    assert "0 after Holm's correction" in out


def test_committed_full_runs_give_every_claim_a_unit_a_method_and_an_honest_width() -> None:
    """Every committed full scoreboard: each measured claim says its unit and method, and an
    interval of zero width only where the method says why (every resample equal, or nothing
    chosen on the selection mazes)."""
    import json

    runs = sorted((REPO / "docs" / "results").glob("scoreboard-*-full"))
    assert runs
    for run in runs:
        for c in json.loads((run / "result.json").read_text())["numbers"]["claims"]:
            m = c["measured"]
            if m is None:
                assert c["verdict"] in ("not testable", "answered") or c["note"], c["id"]
                continue
            assert m["unit"] and m["method"], (run.name, c["id"])
            if m["ci95"][0] == m["ci95"][1]:
                assert "degenerate" in m["method"] or "none chosen" in m["method"], c
