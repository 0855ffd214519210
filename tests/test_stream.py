"""The board's stream layout (samples back to back, netx reset_interval, LIFReset):
on Lava and in the emulator it equals per-sample runs spike for spike, and the
emulator equals Lava in this mode, also where outputs cross the sample boundary."""

import numpy as np
import pytest
import torch

from rouser_lava.backends.emulator import emulate, load_netx
from rouser_lava.backends.lava_sim import simulate
from rouser_lava.backends.stream import StreamLayout, stream_warnings
from rouser_lava.cli import run_main
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.errors import UserError
from rouser_lava.model.blocks import RouserNet, dense_spec
from rouser_lava.model.neuron import NeuronConfig
from rouser_lava.netx.write import write_netx

from .conftest import error_line, random_spikes, random_thresholds
from .netx_random import write_random_netx


def export(net, path, steps) -> str:
    write_netx(quantize_network(net, "vector"), path, steps)
    return str(path)


def assert_same(expected: list, got: list, what: str) -> None:
    assert len(expected) == len(got)
    for layer, (a, b) in enumerate(zip(expected, got)):
        assert a.shape == b.shape, (what, layer)
        mismatch = np.argwhere(a != b)
        assert len(mismatch) == 0, f"{what} layer {layer}: first mismatch at {mismatch[0]}"


@pytest.fixture
def deep_net() -> RouserNet:
    """Six layers for samples of 10 steps in windows of 11: late outputs of one
    sample fall into the next sample's window."""
    torch.manual_seed(5)
    sizes = [12, 16, 16, 16, 16, 16, 6]
    net = RouserNet((12,), [dense_spec(a, b) for a, b in zip(sizes, sizes[1:])],
                    NeuronConfig(current_decay=0.2, voltage_decay=0.05))
    with torch.no_grad():
        for block in net.spiking_blocks():
            block.synapse.weight.mul_(9.0)
    return random_thresholds(net, 0.4, 1.2, seed=6)


def test_layout_places_samples_and_reads_them_back():
    layout = StreamLayout(steps=3, reset_interval=5, reset_offset=2)
    x = np.arange(1, 2 * 2 * 3 + 1).reshape(2, 2, 3)  # (N, C, T)
    stream = layout.pack(x)
    assert stream.shape == (2, layout.total_steps(2)) == (2, 12)
    assert stream[0].tolist() == [0, 0, 1, 2, 3, 0, 0, 7, 8, 9, 0, 0]
    assert np.array_equal(layout.unpack(stream, 2, layer=0), x)
    late = layout.unpack(stream, 2, layer=2)  # layer 2 resets at column 2
    assert np.array_equal(late[..., 2:], x[..., 2:]) and not late[..., :2].any()
    assert [layout.reset_phase(k) for k in range(4)] == [3, 4, 0, 1]
    assert StreamLayout.for_network(25, 3).reset_interval == 32
    assert StreamLayout.for_network(30, 3).reset_interval == 64
    assert not StreamLayout(3, 5).is_power_of_2 and StreamLayout(3, 4).is_power_of_2


@pytest.mark.parametrize("steps, interval, offset", [(4, 4, 0), (4, 5, 5), (0, 8, 0),
                                                     (4, 81, 0)])
def test_layout_refuses_what_cannot_work(steps, interval, offset):
    with pytest.raises(UserError, match="stream layout"):
        StreamLayout(steps, interval, offset)


def test_warnings_name_bias_and_recurrent_layers():
    lines = stream_warnings([True, True, False], [False, False, True])
    assert len(lines) == 2  # layer 0 resets where a per-sample run starts: no warning
    assert lines[0].startswith("layer1 has a bias") and lines[1].startswith("layer2")


@pytest.mark.parametrize("fixture", ["dense_net", "conv_net"])
@pytest.mark.parametrize("interval, offset", [(None, 0), (21, 0), (24, 7)])
def test_emulator_stream_equals_per_sample(fixture, interval, offset, request, tmp_path):
    net = request.getfixturevalue(fixture)
    x = random_spikes((6, *net.input_shape, 20), 0.3, seed=9)
    layers = load_netx(export(net, tmp_path / "n.net", 20))
    fresh = emulate(layers, x, record_state=True)
    layout = StreamLayout.for_network(20, len(fresh.spikes), interval, offset)
    streamed = emulate(layers, x, record_state=True, stream=layout)
    assert all(s.sum() > 0 for s in fresh.spikes)
    for what in ("spikes", "u", "v"):
        assert_same(getattr(fresh, what), getattr(streamed, what), what)


@pytest.mark.lava
def test_lava_stream_equals_per_sample_across_the_boundary(deep_net, tmp_path):
    path = export(deep_net, tmp_path / "deep.net", 10)
    x = random_spikes((4, 12, 10), 0.5, seed=10)
    layers = load_netx(path)
    fresh = emulate(layers, x, record_state=True)
    assert fresh.spikes[-1].sum() > 0, "last layer silent: the test would prove nothing"
    layout = StreamLayout(steps=10, reset_interval=11)
    # the last layer still spikes at columns >= 11, i.e. inside the next sample's window
    longer = emulate(layers, np.concatenate((x, np.zeros((4, 12, 6), np.uint8)), -1))
    assert longer.spikes[-1][..., 11:].sum() > 0
    assert_same(fresh.spikes, emulate(layers, x, stream=layout).spikes, "emulator")
    lava = simulate(path, x, progress=False, record_state=True, stream=layout)
    for what in ("spikes", "u", "v"):
        assert_same(getattr(fresh, what), getattr(lava, what), f"lava {what}")


@pytest.mark.lava
def test_lava_stream_conv_equals_per_sample(conv_net, tmp_path):
    path = export(conv_net, tmp_path / "conv.net", 12)
    x = random_spikes((3, *conv_net.input_shape, 12), 0.3, seed=11)
    fresh = emulate(load_netx(path), x).spikes
    lava = simulate(path, x, progress=False, stream=StreamLayout.for_network(12, 3))
    assert_same(fresh, lava.spikes, "conv")


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.lava
def test_emulator_equals_lava_in_stream_layout(seed, tmp_path):
    """Random netx files with biases, dense_rec and saturating weights: the stream's
    spikes and states agree even where they differ from per-sample runs."""
    path = str(tmp_path / "r.net")
    shape, _ = write_random_netx(path, seed)
    x = random_spikes((3, *shape, 10), 0.4, seed=seed)
    layers = load_netx(path)
    depth = sum(la.kind != "flatten" for la in layers)
    layout = StreamLayout.for_network(10, depth, 13, reset_offset=seed + 1)
    emu = emulate(layers, x, record_state=True, stream=layout)
    lava = simulate(path, x, progress=False, record_state=True, stream=layout)
    for what in ("spikes", "u", "v"):
        assert_same(getattr(emu, what), getattr(lava, what), what)


@pytest.mark.lava
def test_cli_stream_mode(dense_net, tmp_path, capsys):
    path = export(dense_net, tmp_path / "n.net", 16)
    x = random_spikes((5, 20, 16), 0.4, seed=12)
    np.save(tmp_path / "x.npy", x)
    dumps = {}
    for backend, extra in (("emulator", []), ("lava", ["--stream", "reset-interval"]),
                           ("emulator", ["--stream", "reset-interval",
                                         "--reset-interval", "17"])):
        out = tmp_path / f"{backend}{len(dumps)}.npz"
        assert run_main([path, "--backend", backend, "--input", str(tmp_path / "x.npy"),
                         "--dump-spikes", str(out), *extra]) == 0
        dumps[len(dumps)] = np.load(out)
    for k in (1, 2):
        for name in dumps[0].files:
            assert np.array_equal(dumps[0][name], dumps[k][name]), (k, name)
    capsys.readouterr()
    assert run_main([path, "--input", str(tmp_path / "x.npy"), "--stream",
                     "reset-interval", "--reset-interval", "16"]) == 1
    assert "--reset-interval 16 is too short for the stream layout of samples of 16 steps" \
        in error_line(capsys)
