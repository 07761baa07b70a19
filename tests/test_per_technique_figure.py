"""The per-technique figure reads technique runs and span runs and draws one panel a subtask."""

from __future__ import annotations

import pytest
from experiment_scripts import load_experiment_script


@pytest.fixture(scope="module")
def figure():
    return load_experiment_script("per_technique_figure")


def test_reads_both_kinds_of_run_and_draws_a_png(figure, tmp_path):
    techniques = tmp_path / "techniques"
    techniques.mkdir()
    (techniques / "per_label_test.csv").write_text(
        "technique,support,predicted,precision,recall,f1\nSmears,3,2,1.0,0.5,0.6\nDoubt,1,0,1,0,0\n"
    )
    spans = tmp_path / "spans"
    spans.mkdir()
    (spans / "spans_per_technique.csv").write_text(
        "technique,gold spans,predicted spans,P,R,F1\nSmears,3,3,0.5,0.5,0.25\n"
    )
    assert figure.per_technique_f1(techniques).to_dict() == {"Smears": 0.6, "Doubt": 0.0}
    assert figure.per_technique_f1(spans).to_dict() == {"Smears": 0.25}
    panels = {
        "3": {"2021 only": figure.per_technique_f1(techniques)},
        "2": {"2021 only": figure.per_technique_f1(spans)},
    }
    output = figure.draw(panels, tmp_path / "figure.png")
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="SUBTASK"):
        figure.parse_run("4|label|runs/x")
    with pytest.raises(SystemExit, match="no per_label_test.csv"):
        figure.per_technique_f1(tmp_path)
