"""What a load reports: its summary and the command line's output."""

from __future__ import annotations

from loader_support import write

from cible.contract import load_contract
from cible.loader import load_landing, main


def test_summary_reports_totals(landing, warehouse, contract) -> None:
    report = load_landing(landing, warehouse, contract=contract)

    summary = report.summary()
    assert report.load_id in summary
    assert "customers" in summary and "events" in summary
    assert "(not found: empty table)" in summary
    assert report.rows_loaded == 2 and report.rows_rejected == 0 and report.files == 2


def test_main_prints_the_summary(landing, warehouse, monkeypatch, capsys) -> None:
    project_contract = load_contract()
    for name in ("customers", "orders"):
        spec = project_contract[name]
        header = ",".join(spec.required_columns)
        write(
            landing / f"{name}.csv",
            f"{header}\n{','.join('x' * len(spec.required_columns))}\n".encode(),
        )

    code = main(["--landing", str(landing), "--warehouse", str(warehouse), "--source", "orders"])

    assert code == 0
    out = capsys.readouterr().out
    assert "orders" in out and "customers" not in out


def test_main_exits_2_with_the_message_on_a_load_error(tmp_path, warehouse, capsys) -> None:
    code = main(["--landing", str(tmp_path / "nowhere"), "--warehouse", str(warehouse)])

    assert code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: required source ")
    assert "Traceback" not in captured.err
