"""`run --help` and `record --help` show the built-in models' default layers and unit counts from a table in the
package data, which matches the models and is read without loading one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from audiodissect.cli import main
from audiodissect.default_layers import read
from audiodissect.record.layer_table import BUILT_IN, built_in_target, compute, layer_units

SRC = Path(__file__).resolve().parent.parent / "src"


def test_the_table_matches_the_models():
    table = read()
    assert set(table) == set(BUILT_IN)
    assert table["demo-cnn"]["layers"] == layer_units(built_in_target("demo-cnn"))
    assert table["demo-cnn"]["units"] == 385
    assert table == compute()  # YAMNet too (its weights are loaded here, never for --help)
    assert len(table["yamnet"]["layers"]) == 28 and table["yamnet"]["units"] == 11465


@pytest.mark.parametrize("command", ["run", "record"])
def test_help_shows_the_default_layers(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "default layers when --layers is not given" in text
    assert "demo-cnn: 6 layers, 385 units: features.conv1 (16)" in text
    assert "yamnet: 28 layers, 11,465 units" in text and "classifier (521)" in text


def test_help_loads_no_model():
    code = ("import sys; from audiodissect.cli import build_parser; build_parser(); "
            "print(sorted(m for m in sys.modules if m.startswith(('audiodissect.targets.yamnet', "
            "'audiodissect.targets.demo_train', 'audiodissect.targets.demo_cnn'))))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
