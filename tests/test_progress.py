"""Progress without a terminal: rate-limited lines, a start line per stage and a heartbeat, on the command line too."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audiodissect.cli import progress_hook
from audiodissect.progress import LineHook, TqdmHook, default_hook, duration, silent, stage_progress, using

SRC = Path(__file__).resolve().parent.parent / "src"
STAMP = r"\d\d:\d\d:\d\d "


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_are_rate_limited_and_say_how_far_and_how_long():
    clock, lines = Clock(), []
    hook = LineHook(lines.append, interval=30, clock=clock)
    for step in range(101):  # one item a second
        clock.now = float(step)
        hook("record", None, completed=step, total=100)
    # the first step is said at once, then at most one line every 30 s, and the end of a stage it spoke of
    assert lines == ["[record] 1/100 (1 %), 1 s, about 1 min 39 s left",
                     "[record] 31/100 (31 %), 31 s, about 1 min 9 s left",
                     "[record] 61/100 (61 %), 1 min 1 s, about 39 s left",
                     "[record] 91/100 (91 %), 1 min 31 s, about 9 s left",
                     "[record] 100/100 done in 1 min 40 s"]
    lines.clear()
    hook("describe", "tags", completed=0, total=3)
    hook("describe", "tags", completed=3, total=3)  # quick work that said nothing before says nothing at its end
    assert lines == []


def test_a_silent_stage_says_it_still_runs():
    lines = []
    hook = LineHook(lines.append, interval=0.2)
    with hook.stage("summarize"):
        hook("summarize", "llm", completed=0, total=10)
        time.sleep(0.9)
    assert lines[0] == "[summarize] started"
    beats = [line for line in lines if line.startswith("[summarize] still running after")]
    assert len(beats) >= 2 and "(last: summarize llm 0/10)" in beats[0]
    assert lines[-1].startswith("[summarize] finished in")


def test_the_heartbeat_says_how_far_a_stage_got_since_the_last_line():
    lines = []
    hook = LineHook(lines.append, interval=0.2)
    with hook.stage("describe"):
        hook("describe", "tags", completed=3, total=10)  # right after the start line: not said yet
        time.sleep(0.75)
    assert lines[0] == "[describe] started"
    assert re.fullmatch(r"\[describe\] tags 3/10 \(30 %\), 0 s, about 0 s left", lines[1]), lines
    assert lines[2].startswith("[describe] still running after") and "(last: describe tags 3/10)" in lines[2]


def test_stage_runner_reports_starts_through_the_hook(tmp_path):
    from audiodissect.config import RunConfig
    from audiodissect.rundir import RunDir
    from audiodissect.stage import Context, Runner, Stage

    class Slow(Stage):
        name = "slow"

        def inputs(self, ctx):
            return {}

        def run(self, ctx, key):
            time.sleep(0.5)
            return {}, None

    lines = []
    run = RunDir(tmp_path / "run")
    hook = LineHook(lines.append, interval=0.15, end_lines=False)
    Runner(run)(Slow(), Context(run, RunConfig(), hook=hook))
    assert lines[0] == "[slow] started" and any(line.startswith("[slow] still running") for line in lines)
    lines.clear()
    Runner(run)(Slow(), Context(run, RunConfig(), hook=hook))  # reused: nothing runs, nothing is said
    assert lines == []


def test_which_hook_the_command_line_chooses(monkeypatch):
    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    monkeypatch.delenv("AUDIODISSECT_PROGRESS", raising=False)
    assert isinstance(progress_hook(quiet=False, stdout=Stream(True), stderr=Stream(True)), TqdmHook)
    assert isinstance(progress_hook(quiet=False, stdout=Stream(False), stderr=Stream(True)), LineHook)
    assert isinstance(progress_hook(quiet=False, stdout=Stream(True), stderr=Stream(False)), LineHook)
    assert progress_hook(quiet=True, stdout=Stream(False), stderr=Stream(False)) is silent
    monkeypatch.setenv("AUDIODISSECT_PROGRESS", "off")
    assert progress_hook(quiet=False, stdout=Stream(False), stderr=Stream(False)) is silent
    monkeypatch.setenv("AUDIODISSECT_PROGRESS", "lines")
    assert isinstance(progress_hook(quiet=False, stdout=Stream(True), stderr=Stream(True)), LineHook)


def test_default_hook_is_the_one_in_use():
    hook = LineHook(lambda line: None)
    with using(hook):
        assert default_hook() is hook
    assert default_hook() is not hook
    with stage_progress(silent, "x"):  # a hook without stages is fine
        pass
    assert duration(59.4) == "59 s" and duration(3600 + 240) == "1 h 4 min" and duration(125) == "2 min 5 s"


def test_a_command_with_stdout_in_a_file_prints_progress_lines(tmp_path):
    env = {**os.environ, "AUDIODISSECT_CACHE": str(tmp_path / "cache"), "AUDIODISSECT_PROGRESS_INTERVAL": "0.01",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop("AUDIODISSECT_PROGRESS", None)
    log = tmp_path / "log.txt"
    argv = [sys.executable, "-m", "audiodissect.cli", "record", "--model", "yamnet", "--probe-option",
            "clips_per_label=4", "--probe-option", "labels=trumpet,organ,speech", "--probe-option", "duration=1.0",
            "--layers", "classifier", "--batch-size", "1", "--out", str(tmp_path / "run")]
    with open(log, "w") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = log.read_text().splitlines()
    assert re.fullmatch(STAMP + r"\[record\] started", lines[0])
    progress = [line for line in lines if re.fullmatch(STAMP + r"\[record\] \d+/12 \(\d+ %\), .*", line)]
    assert progress, lines
    assert lines.index(progress[0]) < lines.index(next(line for line in lines if line.startswith("[record] done")))
    # quiet: results only
    with open(log, "w") as out:
        done = subprocess.run(argv + ["--quiet"], stdout=out, stderr=subprocess.PIPE, text=True, env=env,
                              timeout=600)
    assert done.returncode == 0 and not any(re.match(STAMP, line) for line in log.read_text().splitlines())


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_verbose_after_the_command(flag):
    from audiodissect.cli import build_parser

    args = build_parser().parse_args(["report", "--run", "x", flag])
    assert args.verbose is True and not args.quiet
    args = build_parser().parse_args([flag, "report", "--run", "x"])
    assert args.verbose is True
