import pickle

import pytest
import torch

from delaysnn.errors import CheckpointError, DelaysnnError
from delaysnn.model.checkpoint import load_checkpoint, save_checkpoint


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_round_trip_gives_identical_outputs(tiny_model, tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(tiny_model, path, {"note": "x"})
    # the file itself is loadable by plain torch with weights_only=True
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "delaysnn-checkpoint" and payload["metadata"] == {"note": "x"}
    loaded = load_checkpoint(path)
    x = (torch.rand(3, 15, 6) < 0.4).float()
    assert torch.equal(tiny_model(x), loaded(x))
    assert not loaded.training
    assert not list(tmp_path.glob("*.part"))


def test_missing_file(tmp_path):
    with pytest.raises(DelaysnnError) as err:
        load_checkpoint(tmp_path / "nope.pt")
    assert "no such" in _one_line(err)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_text("hello")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in _one_line(err) and "not a PyTorch checkpoint" in str(err.value)


def test_truncated_checkpoint(tiny_model, tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(tiny_model, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in _one_line(err)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "delaysnn-checkpoint", "x": Evil()}, path, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "refuses to unpickle" in _one_line(err)


def test_checkpoint_of_another_model(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "not a delaysnn checkpoint" in _one_line(err) and "'format'" in str(err.value)


def test_snn_delays_state_dict_points_to_convert(tmp_path):
    path = tmp_path / "theirs.pt"
    torch.save({"model.0.weight": torch.zeros(4, 3, 1), "model.0.P": torch.zeros(1, 4, 3, 1)}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "delaysnn convert --from snn-delays" in _one_line(err)


def test_config_and_state_mismatch(tiny_model, tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(tiny_model, path)
    payload = torch.load(path, weights_only=True)
    payload["config"]["hidden_size"] = 9
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "shape" in _one_line(err)
    payload["config"]["bogus"] = 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="unknown config keys"):
        load_checkpoint(path)


def test_nan_weights_are_refused(tiny_model, tmp_path):
    with torch.no_grad():
        tiny_model.readout.weight[0, 0, 0] = float("nan")
    path = tmp_path / "m.pt"
    save_checkpoint(tiny_model, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "NaN" in _one_line(err) and "readout.weight" in str(err.value)


def test_failed_save_leaves_no_file(tiny_model, tmp_path, monkeypatch):
    path = tmp_path / "m.pt"

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tiny_model, path)
    assert list(tmp_path.iterdir()) == []


def test_output_directory_must_exist(tiny_model, tmp_path):
    with pytest.raises(DelaysnnError, match="does not exist"):
        save_checkpoint(tiny_model, tmp_path / "missing" / "m.pt")
