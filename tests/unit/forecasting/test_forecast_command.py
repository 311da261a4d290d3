"""The forecast management command: one JSON line per history, errors in words, non-zero exit."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

HISTORY = {
    "id": "ok-1",
    "regimen": {"code": "FOLFOX-Q2W", "cycle_length_days": 14, "fn_risk": "low"},
    "doses": [{"time": "2026-06-01T09:00", "dose_fraction": 1.0}],
    "counts": [{"time": "2026-06-01T07:00", "anc": 4.4, "unit": "10^9/L"}],
    "forecast_cycle_start": "2026-06-01T09:00",
}


def test_command_answers_every_line_and_fails_at_the_end(tmp_path: Path):
    bad_unit = {**HISTORY, "id": "bad-1",
                "counts": [{"time": "2026-06-01T07:00", "anc": 4.4, "unit": "mmol"}]}
    path = tmp_path / "histories.jsonl"
    path.write_text("\n".join([json.dumps(HISTORY), "{not json", json.dumps(bad_unit), json.dumps(HISTORY)]) + "\n")
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 line"):
        call_command("forecast", str(path), stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line.get("id") for line in lines] == ["ok-1", None, "bad-1", "ok-1"]
    assert "not valid JSON" in lines[1]["error"]
    assert "counts[0].unit: unknown unit 'mmol'" in lines[2]["error"]
    assert lines[0]["nadir"]["anc"] > 0


def test_command_succeeds_on_good_input(tmp_path: Path):
    path = tmp_path / "histories.jsonl"
    path.write_text(json.dumps(HISTORY) + "\n")
    out = io.StringIO()
    call_command("forecast", str(path), stdout=out)
    assert json.loads(out.getvalue())["id"] == "ok-1"


def test_command_learns_regimen_priors_from_the_file_unless_told_not_to(tmp_path: Path):
    from monitoring.forecasting.population import MIN_PATIENTS

    path = tmp_path / "histories.jsonl"
    path.write_text("".join(json.dumps({**HISTORY, "id": f"p{i}"}) + "\n" for i in range(MIN_PATIENTS)))
    pooled, plain = io.StringIO(), io.StringIO()
    call_command("forecast", str(path), stdout=pooled)
    call_command("forecast", str(path), "--no-pooling", stdout=plain)
    pooled_lines = [json.loads(line) for line in pooled.getvalue().splitlines()]
    plain_lines = [json.loads(line) for line in plain.getvalue().splitlines()]
    assert len(pooled_lines) == len(plain_lines) == MIN_PATIENTS
    assert all(any("learned from" in w for w in line["warnings"]) for line in pooled_lines)
    assert not any("learned from" in w for line in plain_lines for w in line["warnings"])
