"""The `score` and `evaluate planted` command parsers: flags fill settings, defaults stay the settings'."""

import argparse

from audiodissect.cli import evaluate_planted, score
from audiodissect.cli._settings import settings_from_args


def test_score_parser():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    score.register(sub)
    args = parser.parse_args(["score", "--run", "r", "--no-audio-text"])
    assert args.handler is score.main and args.run == "r"
    assert settings_from_args(args, score.FLAGS) == {"score": {"audio_text": False}}
    args = parser.parse_args(["score", "--run", "r"])
    assert settings_from_args(args, score.FLAGS) == {}  # nothing given: the run's settings stay


def test_evaluate_planted_parser_defaults():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="evaluation")
    evaluate_planted.register(sub)
    args = parser.parse_args(["planted", "--out", "o"])
    assert args.handler is evaluate_planted.main and args.out == "o"
    assert settings_from_args(args, evaluate_planted.FLAGS) == {}  # the defaults are RunConfig's
    args = parser.parse_args(["planted", "--out", "o", "--methods", "tab", "--similarities", "cos3"])
    assert settings_from_args(args, evaluate_planted.FLAGS) == {"identify": {"methods": ["tab"],
                                                                             "similarities": ["cos3"]}}
