"""Checkpointing as PyTorch tutorials do it: torch.save of a dict holding the model's and the
optimiser's state_dict, torch.load(..., weights_only=True) into freshly built objects, and training
that resumes exactly where it stopped; also a tensor through an in-memory file."""
import io
import os
import tempfile

import torch
import torch.nn as nn
from _report import report

torch.manual_seed(0)
X = torch.linspace(-1, 1, 64).reshape(-1, 1)
y = torch.sin(3 * X)


def build():
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    return model, torch.optim.Adam(model.parameters(), lr=0.01)


def train(model, optimizer, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(X), y)
        loss.backward()
        optimizer.step()
    return loss.item()


model, optimizer = build()
train(model, optimizer, 50)

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "checkpoint.pt")
    torch.save({"epoch": 50, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": optimizer.state_dict()}, path)
    checkpoint = torch.load(path, weights_only=True)

model2, optimizer2 = build()       # new objects, other initial weights
model2.load_state_dict(checkpoint["model_state_dict"])
optimizer2.load_state_dict(checkpoint["optimizer_state_dict"])
assert checkpoint["epoch"] == 50
for (name, p), p2 in zip(model.named_parameters(), model2.parameters()):
    assert torch.equal(p, p2), name

loss_a = train(model, optimizer, 50)
loss_b = train(model2, optimizer2, 50)
same = all(torch.equal(p, p2) for p, p2 in zip(model.parameters(), model2.parameters()))
print(f"resumed: loss {loss_a:.6f} vs {loss_b:.6f}, identical parameters: {same}")
assert same and loss_a == loss_b

# a tensor through a file object
buffer = io.BytesIO()
t = torch.arange(6, dtype=torch.float64).reshape(2, 3)
torch.save(t, buffer)
buffer.seek(0)
t2 = torch.load(buffer, weights_only=True)
assert torch.equal(t, t2) and t2.dtype == torch.float64

report({"resumed_identically": float(same)}, exact=["resumed_identically"])
