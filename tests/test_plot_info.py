"""`hnet plot` (clean PNG on stdout, learning-rate panel, a y-range on the part that matters, --json)
and `hnet info` at the model's own compression targets and training length."""

import json
import math
import struct

import pytest

from hnet_cli.cli import main
from hnet_cli.model.checkpoint import save_model
from hnet_cli.model.describe import describe
from hnet_cli.model.flops import forward_flops_per_byte

from model_helpers import tiny_model

PNG_END = b"IEND\xaeB`\x82"


@pytest.fixture
def run_dir(tmp_path):
    """A run's records as hnet train writes them: bits fall from 8 to about 1.97 within the first steps."""
    run = tmp_path / "run"
    run.mkdir()
    lines = []
    for step in range(1, 201):
        bpb = 1.97 + 6.0 * math.exp(-step / 4)
        lines.append({"kind": "train", "step": step, "loss": bpb * math.log(2) + 0.03, "ce": bpb * math.log(2),
                      "bpb": bpb, "compression": [0.3 + 0.1 * math.exp(-step / 20)], "lr": 1e-3 * min(1, step / 20)})
        if step % 50 == 0:
            lines.append({"kind": "val", "step": step, "val_bpb": bpb + 0.01, "val_bits_per_base": bpb + 0.01})
    lines.append({"kind": "train", "step": 201, "loss": float("nan"), "ce": float("nan"), "bpb": float("nan"),
                  "compression": [0.3], "lr": 1e-3})
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (run / "run.json").write_text(json.dumps({"domain": "dna", "unit": "base", "compression_targets": [3],
                                              "yardstick": {"model": "order-6 Markov chain", "bpb": 1.985}}))
    return run


def test_plot_to_stdout_is_one_clean_png(run_dir, capsysbinary):
    pytest.importorskip("matplotlib")
    assert main(["plot", str(run_dir), "--out", "-"]) == 0
    out = capsysbinary.readouterr().out
    assert out.startswith(b"\x89PNG\r\n\x1a\n") and out.endswith(PNG_END)  # nothing after the PNG
    width, height = struct.unpack(">II", out[16:24])
    assert width > height > 500


def test_plot_panels_and_focused_bits_axis(run_dir):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from hnet_cli.train.plot import draw, run_series

    fig = draw(run_series(run_dir))
    titles = {ax.get_title(): ax for ax in fig.axes}
    assert "learning rate" in titles
    lr_line = titles["learning rate"].get_lines()[0]
    assert max(lr_line.get_ydata()) == pytest.approx(1e-3)
    bits = next(ax for title, ax in titles.items() if title.startswith("bits per byte"))
    low, high = bits.get_ylim()
    # The axis shows 1.97..2.0 large, not 0..8: the first steps run off the top.
    assert 1.9 < low < 1.98 and high < 2.3, (low, high)
    assert "off the top" in bits.get_title()
    # the yardstick is a dashed line at its bits, inside the focused range
    assert any(list(line.get_ydata()) == [1.985, 1.985] for line in bits.get_lines())
    assert any("yardstick" in text.get_text() for text in bits.get_legend().get_texts())
    compression = next(ax for title, ax in titles.items() if title.startswith("compression"))
    assert any(abs(line.get_ydata()[0] - 1 / 3) < 1e-9 for line in compression.get_lines())  # the target
    plt.close(fig)


def test_plot_json_series(run_dir, capsys):
    assert main(["plot", str(run_dir), "--json"]) == 0
    series = json.loads(capsys.readouterr().out)
    assert series["train"]["step"][:3] == [1, 2, 3] and len(series["train"]["lr"]) == 201
    assert series["train"]["bpb"][-1] is None  # NaN is not JSON
    assert series["val"]["step"] == [50, 100, 150, 200] and series["compression_targets"] == [3]
    assert len(series["train"]["compression"]) == 1
    assert series["yardstick"] == {"model": "order-6 Markov chain", "bpb": 1.985}


def test_plot_default_path_is_printed(run_dir, capsys):
    pytest.importorskip("matplotlib")
    assert main(["plot", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / "plots" / "curves.png")


def test_info_uses_the_models_targets_and_length(tmp_path, capsys):
    model = tiny_model(stages=2)
    save_model(model, tmp_path / "ckpt", metadata={"compression_targets": [3, 2], "seq_len": 512})
    summary = describe(tmp_path / "ckpt")
    assert summary["compression"] == pytest.approx([1 / 3, 1 / 2]) and summary["compression_from"] == "targets"
    assert summary["seq_len"] == 512 and summary["seq_len_from"] == "training length"
    want = forward_flops_per_byte(model.config, 512, [1 / 3, 1 / 2]).per_byte
    assert summary["flops_per_byte"] == pytest.approx(want)
    assert want != pytest.approx(forward_flops_per_byte(model.config, 8192, [0.25, 0.25]).per_byte)
    # Given values win; a model that records nothing gets the defaults.
    given = describe(tmp_path / "ckpt", compression=[0.5, 0.5], seq_len=64)
    assert given["compression"] == [0.5, 0.5] and given["seq_len"] == 64
    assert main(["info", str(tmp_path / "ckpt")]) == 0
    out = capsys.readouterr().out
    assert "compression targets N = 3, 2" in out and "512 (training length)" in out


def test_info_on_a_run_before_its_first_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(tiny_model(stages=1).config.to_dict()))
    (run / "run.json").write_text(json.dumps({"domain": "text", "compression_targets": [6]}))
    summary = describe(run)
    assert summary["compression"] == pytest.approx([1 / 6]) and summary["domain"] == "text"


def test_info_on_an_official_config_keeps_the_defaults(official_dir):
    summary = describe(official_dir / "config_hnet_2stage_XL.json")
    assert summary["compression"] == [0.25, 0.25] and summary["compression_from"] == "default"
    assert summary["seq_len"] == 8192
