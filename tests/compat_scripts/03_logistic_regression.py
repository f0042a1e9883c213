"""Logistic regression on imbalanced classes: nn.Linear + nn.BCEWithLogitsLoss with pos_weight,
zero-initialised weights (so both libraries do the same arithmetic), Adam, in float64."""
import random

import torch
import torch.nn as nn
from _report import report

torch.set_default_dtype(torch.float64)
assert torch.get_default_dtype() == torch.float64
random.seed(1)

# 1 positive for every 4 negatives, partly overlapping
pts, labels = [], []
for i in range(500):
    positive = i % 5 == 0
    cx, cy = (1.0, 1.0) if positive else (-1.0, -0.5)
    pts.append([random.gauss(cx, 1.2), random.gauss(cy, 1.2)])
    labels.append([1.0 if positive else 0.0])
X, y = torch.tensor(pts), torch.tensor(labels)
assert X.dtype == torch.float64


def train(pos_weight):
    model = nn.Linear(2, 1)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(600):
        optimizer.zero_grad()
        loss = criterion(model(X), y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        pred = (torch.sigmoid(model(X)) > 0.5).float()
        recall = (pred * y).sum() / y.sum()
        precision = (pred * y).sum() / pred.sum()
    return model, loss.item(), recall.item(), precision.item()


plain, loss_plain, recall_plain, prec_plain = train(None)
weighted, loss_w, recall_w, prec_w = train(torch.tensor([4.0]))
print(f"plain: loss {loss_plain:.4f} recall {recall_plain:.3f}; pos_weight=4: loss {loss_w:.4f} recall {recall_w:.3f}")

# At the optimum of a convex loss the gradient vanishes: check it for the weighted model.
weighted.zero_grad()
nn.BCEWithLogitsLoss(pos_weight=torch.tensor([4.0]))(weighted(X), y).backward()
grad_norm = max(p.grad.abs().max().item() for p in weighted.parameters())
assert grad_norm < 1e-3, grad_norm
assert recall_w > recall_plain + 0.05    # weighting the positives trades precision for recall
assert prec_w < prec_plain

report({"loss_plain": loss_plain, "loss_weighted": loss_w, "recall_weighted": recall_w,
        "w0": weighted.weight[0, 0].item(), "b": weighted.bias.item()},
       exact=["loss_plain", "loss_weighted", "recall_weighted", "w0", "b"], rtol=1e-6)
