"""The `score` and `evaluate planted` command parsers."""

import argparse

from audiodissect.cli import evaluate_planted, score


def test_score_parser():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    score.register(sub)
    args = parser.parse_args(["score", "--run", "r", "--no-audio-text"])
    assert args.handler is score.main and args.run == "r" and args.no_audio_text


def test_evaluate_planted_parser_defaults():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="evaluation")
    evaluate_planted.register(sub)
    args = parser.parse_args(["planted", "--out", "o"])
    assert args.handler is evaluate_planted.main
    assert (args.model, args.probe, args.methods) == ("demo-cnn", "soundbank", ["tab", "db"])
    assert args.similarities == ["cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi"]
