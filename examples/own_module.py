import tempfile
from pathlib import Path

import torch
from torch import nn

import rouser_lava as rl


class MyNet(nn.Module):
    """64 inputs -> 64 Rouser neurons -> 10 Rouser neurons, each with its own threshold."""

    def __init__(self, neuron: rl.NeuronConfig):
        super().__init__()
        self.hidden = rl.Dense(rl.dense_spec(64, 64), neuron)
        self.out = rl.Dense(rl.dense_spec(64, 10), neuron)

    def forward(self, x):  # spikes (N, 64, T) -> output spikes (N, 10, T)
        return self.out(self.hidden(x))


torch.manual_seed(0)  # initial weights
data = rl.load_dataset("digits")  # built-in 8x8 digits, rate-coded: uint8 (N, 64, 32)
model = MyNet(rl.NeuronConfig(threshold=1.25))
net = rl.RouserNet.from_blocks(data.input_shape, [model.hidden, model.out])  # shares them
opt = torch.optim.Adam(model.parameters(), lr=2e-3)  # weights and thresholds
gen = torch.Generator().manual_seed(0)  # batch order
for _ in range(300):
    idx = torch.randint(len(data.x_train), (32,), generator=gen).numpy()
    x = torch.from_numpy(data.x_train[idx]).float()
    y = torch.from_numpy(data.y_train[idx])
    rate = model(x).mean(-1)  # (N, 10) output spike rates
    target = 0.03 + 0.17 * nn.functional.one_hot(y, 10)
    loss = ((rate - target) ** 2).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    net.clamp_()  # keep the learned thresholds on Loihi's grid and range

qnet = rl.quantize_network(net, "fold")  # Loihi 2 form: one vThMant per layer
with tempfile.TemporaryDirectory() as folder:  # removed with what it holds
    path = Path(folder) / "net.net"
    rl.write_netx(qnet, path, data.time_steps)  # netx HDF5 that lava.lib.dl.netx loads
    deployed = rl.emulate(rl.load_netx(path), data.x_test).spikes[-1].sum(-1).argmax(1)
with torch.no_grad():
    trained = model(torch.from_numpy(data.x_test).float()).sum(-1).argmax(1).numpy()
accuracy = (deployed == data.y_test).mean()
agreement = (deployed == trained).mean()
print(f"deployed accuracy {accuracy:.1%}, prediction agreement with torch {agreement:.1%}")
