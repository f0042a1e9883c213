"""Fitting a linear model with RMSprop (plain, centered, with momentum) and Adagrad, from zero
weights in float64, with nn.MSELoss; each must reach the least-squares solution, computed in
closed form with NumPy."""
import random

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from _report import report

torch.set_default_dtype(torch.float64)
random.seed(7)
rows = [[random.uniform(-1, 1) for _ in range(3)] for _ in range(200)]
targets = [[1.5 * a - 2.0 * b + 0.5 * c + 0.3 + random.gauss(0, 0.1)] for a, b, c in rows]
X, y = torch.tensor(rows), torch.tensor(targets)

# closed form: [w; b] = argmin ‖[X 1][w; b] − y‖²
A = np.hstack([np.array(rows), np.ones((200, 1))])
solution = np.linalg.lstsq(A, np.array(targets), rcond=None)[0].ravel()


def fit(make_optimizer, steps):
    model = nn.Linear(3, 1)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    assert sum(p.nelement() for p in model.parameters()) == 4
    optimizer = make_optimizer(model.parameters())
    criterion = nn.MSELoss()
    for step in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(X), y)
        loss.backward()
        optimizer.step()
        if step == 20:
            early = loss.item()   # mid-way, where the update rules differ most: compared with PyTorch
    params = np.array(model.weight.detach().reshape(-1).tolist() + model.bias.detach().tolist())
    return loss.item(), float(np.abs(params - solution).max()), early


results = {
    "rmsprop": fit(lambda p: optim.RMSprop(p, lr=0.01), 600),
    "rmsprop_centered_momentum": fit(lambda p: optim.RMSprop(p, lr=0.005, momentum=0.5, centered=True), 600),
    "adagrad": fit(lambda p: optim.Adagrad(p, lr=0.5), 600),
    "adagrad_decay": fit(lambda p: optim.Adagrad(p, lr=0.5, lr_decay=1e-3, initial_accumulator_value=0.1), 600),
}
best = float(np.mean((A @ solution - np.array(targets).ravel()) ** 2))
for name, (loss, err, _) in results.items():
    print(f"{name:28s} loss {loss:.6f} (least squares {best:.6f}), max parameter error {err:.1e}")
    assert loss < best * 1.01 and err < 0.02, (name, loss, err)

values = {f"{k}_loss": v[0] for k, v in results.items()} | {f"{k}_step20": v[2] for k, v in results.items()}
report(values, exact=list(values), rtol=1e-6, atol=1e-8)
