"""An MLP classifier on three interleaved spirals: nn.Sequential, nn.CrossEntropyLoss with label
smoothing, SGD with momentum, train/eval modes and accuracy under no_grad."""
import math
import random

import torch
import torch.nn as nn
import torch.optim as optim
from _report import report

random.seed(0)
torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
device = "cpu"  # the comparison runs both libraries on the CPU


def spirals(n_per_class, classes=3):
    xs, ys = [], []
    for c in range(classes):
        for i in range(n_per_class):
            r = i / n_per_class
            t = c * 2 * math.pi / classes + 4 * r + random.gauss(0, 0.1)
            xs.append([r * math.sin(t), r * math.cos(t)])
            ys.append(c)
    return torch.tensor(xs), torch.tensor(ys)


X, y = spirals(100)
X, y = X.to(device), y.to(device)

model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)).to(device)
criterion = nn.CrossEntropyLoss(label_smoothing=0.05)
optimizer = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
n_params = sum(p.numel() for p in model.parameters())
assert n_params == 2 * 32 + 32 + 32 * 32 + 32 + 32 * 3 + 3

losses = []
for step in range(300):
    model.train()
    optimizer.zero_grad()
    loss = criterion(model(X), y)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())

model.eval()
with torch.no_grad():
    pred = model(X).argmax(dim=1)
    accuracy = (pred == y).float().mean().item()
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy {accuracy:.3f}")
assert losses[-1] < 0.4 * losses[0]
assert accuracy > 0.95

# over minimm seeds 0-3: loss 0.195-0.198, accuracy 0.993
report({"loss": losses[-1], "accuracy": accuracy}, tol={"loss": 0.05, "accuracy": 0.03})
