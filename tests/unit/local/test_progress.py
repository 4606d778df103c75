"""The progress view in both modes, fed the lines kfp.local prints."""

import io
import re
import sys

from shipyard.local.pipeline import StepLogs
from shipyard.local.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def screen(raw: str) -> list[str]:
    """What a terminal shows after ``raw``: honours 'n lines up' and 'clear line'."""
    rows: list[str] = []
    at = 0
    for part in re.split(r"(\x1b\[\d+F|\x1b\[2K|\n)", raw):
        if not part or part == "\x1b[2K":
            continue
        if part == "\n":
            at += 1
        elif up := re.fullmatch(r"\x1b\[(\d+)F", part):
            at -= int(up.group(1))
        else:
            while len(rows) <= at:
                rows.append("")
            rows[at] = part
    return rows


def test_plain_mode_appends_one_line_per_change():
    out, clock = io.StringIO(), Clock()
    with Progress(["ingest", "train", "deploy"], out, clock=clock) as progress:
        assert not progress.live  # a StringIO is not a terminal
        progress.started("ingest")
        clock.now += 2.5
        progress.finished("ingest", ok=True)
        progress.started("train")
        clock.now += 10
        progress.finished("train", ok=False)
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert [line.split()[1:3] for line in lines] == [
        ["ingest", "running"],
        ["ingest", "done"],
        ["train", "running"],
        ["train", "failed"],
    ]
    assert lines[1].endswith("2.5 s") and lines[3].endswith("10.0 s")
    assert "deploy" not in out.getvalue()  # never started: not a line of its own


def test_terminal_mode_redraws_one_line_per_step_in_place():
    out, clock = Terminal(), Clock()
    with Progress(["ingest", "train", "deploy"], out, clock=clock, tick_seconds=60) as progress:
        assert progress.live
        assert [row.split()[0] for row in screen(out.getvalue())] == ["ingest", "train", "deploy"]
        progress.started("ingest")
        clock.now += 1.25
        progress.finished("ingest", ok=True)
        progress.started("train")
        clock.now += 3
        progress.redraw()  # what the ticker does: the running step's clock moves
        shown = screen(out.getvalue())
        assert len(shown) == 3
        assert shown[0].split() == ["✓", "ingest", "done", "1.2", "s"]
        assert shown[1].split() == [">", "train", "running", "3.0", "s"]
        assert shown[2].split() == ["deploy", "waiting"]
    shown = screen(out.getvalue())
    assert len(shown) == 3  # still one block, drawn over
    assert shown[2].split() == ["-", "deploy", "not", "run"]


def test_step_logs_feed_the_progress_view_and_keep_the_terminal_quiet(tmp_path, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    progress = Progress(["ingest", "validate"], out)
    (tmp_path / "scratch").mkdir()
    with StepLogs(tmp_path / "scratch", progress):
        print("12:00:00.000 - INFO - Executing task \x1b[96m'ingest-op'\x1b[0m")
        print("    UserWarning: something a library said")
        print("12:00:01.000 - INFO - Task \x1b[96m'ingest-op'\x1b[0m finished with status SUCCESS")
        print("12:00:01.000 - INFO - Executing task 'validate-op'")
        print("12:00:02.000 - ERROR - Task 'validate-op' finished with status FAILURE")
    progress.close()
    said = out.getvalue()
    assert "Warning" not in said and "Executing" not in said
    assert [line.split()[1:3] for line in said.splitlines()] == [
        ["ingest", "running"],
        ["ingest", "done"],
        ["validate", "running"],
        ["validate", "failed"],
    ]
    assert "UserWarning" in (tmp_path / "scratch" / "ingest-op.log").read_text()


def test_an_output_that_cannot_encode_the_marks_gets_ascii_ones():
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    progress = Progress(["ingest"], out)
    progress.started("ingest")
    progress.finished("ingest", ok=True)
    out.flush()
    assert raw.getvalue().decode("ascii").splitlines()[1].split()[:3] == ["+", "ingest", "done"]


def test_a_failed_steps_tail_is_its_own_lines(tmp_path):
    from shipyard.local.pipeline import print_tail

    log = tmp_path / "log.txt"
    log.write_text(
        "02:58:32.374 - INFO - Executing task 'ingest-op'\n"
        "    [KFP Executor 2026-12-06 02:58:32,527 INFO]: Got executor_input:\n"
        '    {\n        "inputs": {\n            "x": 1\n        }\n    }\n'
        "    read 2 rows\n"
        "    shipyard: error: target column 'label' is missing\n"
        "02:58:33.000 - ERROR - Task 'ingest-op' finished with status FAILURE\n"
    )
    out = io.StringIO()
    print_tail(log, out)
    assert out.getvalue().splitlines()[1:] == [
        "    read 2 rows",
        "    shipyard: error: target column 'label' is missing",
    ]


def test_a_step_reports_how_far_it_is_a_bar_on_a_terminal_nothing_in_a_pipe(tmp_path, capsys):
    from shipyard.steps.timing import report_progress

    report_progress("tune", 2, 6)  # what tune prints inside its task
    streamed = capsys.readouterr().out
    for out, live in ((Terminal(), True), (io.StringIO(), False)):
        progress = Progress(["tune"], out, clock=Clock(), tick_seconds=60)
        (tmp_path / f"s{live}").mkdir()
        with StepLogs(tmp_path / f"s{live}", progress):
            sys.stdout.write("12:00:00.000 - INFO - Executing task 'tune-op'\n")
            sys.stdout.write(f"    {streamed}")  # kfp.local indents a task's own output
        if live:
            assert screen(out.getvalue())[0].split()[-2:] == ["[#######.............]", "2/6"]
        else:
            assert out.getvalue().splitlines() == ["  > tune       running"]
        progress.close()
