"""Sinusoidal positional encodings as "The Annotated Transformer" writes them, checked against
their closed form: PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d)); and the
property that makes them useful — PE(p + k) is a fixed rotation of PE(p), whatever p is."""
import math

import torch
import torch.nn as nn
from _report import report


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x + self.pe[:, : x.size(1)].requires_grad_(False)
        return self.dropout(x)


d_model, max_len = 16, 64
pos = PositionalEncoding(d_model, dropout=0.0, max_len=max_len)
pe = pos.pe[0]
assert pe.shape == (max_len, d_model) and pe.dtype == torch.float32

# 1. the closed form, element by element
worst = 0.0
for p in range(max_len):
    for i in range(d_model // 2):
        angle = p / 10000 ** (2 * i / d_model)
        worst = max(worst, abs(pe[p, 2 * i].item() - math.sin(angle)), abs(pe[p, 2 * i + 1].item() - math.cos(angle)))
assert worst < 1e-4, worst

# 2. each (sin, cos) pair lies on the unit circle
assert torch.allclose(pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2, torch.ones(max_len, d_model // 2), atol=1e-5)

# 3. the frequencies fall geometrically: log10 of the angular rates is linear in the pair index
rates = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
expected = torch.tensor([-4.0 * 2 * i / d_model for i in range(d_model // 2)])
assert torch.allclose(torch.log10(rates), expected, atol=1e-5)

# 4. shifting by k positions rotates each pair by the angle k·rate: PE(p+k) = R_k PE(p)
k = 5
s, c = torch.sin(k * rates), torch.cos(k * rates)
sin_p, cos_p = pe[:-k, 0::2], pe[:-k, 1::2]
rotated_sin = sin_p * c + cos_p * s       # sin(a + b) = sin a cos b + cos a sin b
rotated_cos = cos_p * c - sin_p * s       # cos(a + b) = cos a cos b − sin a sin b
shift_err = max((rotated_sin - pe[k:, 0::2]).abs().max().item(), (rotated_cos - pe[k:, 1::2]).abs().max().item())
assert shift_err < 1e-4, shift_err

# 5. the module adds the encoding to a batch of embeddings, without a gradient into the buffer
x = torch.zeros(2, 10, d_model, requires_grad=True)
out = pos(x)
out.sum().backward()
assert torch.equal(out[1].detach(), pe[:10]) and torch.equal(x.grad, torch.ones(2, 10, d_model))
print(f"closed form within {worst:.1e}, shift-by-{k} rotation within {shift_err:.1e}")

report({"pe_sum": pe.sum().item(), "pe_37_5": pe[37, 5].item(), "shift_err_below": float(shift_err < 1e-4)},
       exact=["pe_sum", "pe_37_5", "shift_err_below"], rtol=1e-4, atol=1e-5)
