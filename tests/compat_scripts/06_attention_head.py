"""A decoder block in the style of the "let's build GPT" lecture: one causal self-attention head
with a tril mask kept as a buffer, LayerNorm, residual connections and a feed-forward layer,
trained to continue a repeating token sequence."""
import torch
import torch.nn as nn
from torch.nn import functional as F
from _report import report

torch.manual_seed(1337)
vocab_size, block_size, n_embd, head_size = 8, 8, 32, 16

# data: the sequence 0 1 2 3 4 5 6 7 0 1 2 ... ; every next token is determined by the previous one
data = torch.tensor([i % vocab_size for i in range(400)])


def get_batch(batch_size):
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + block_size + 1] for i in ix])
    return x, y


class Head(nn.Module):
    def __init__(self, head_size):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))

    def forward(self, x):
        B, T, C = x.shape
        k = self.key(x)
        q = self.query(x)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        wei = F.softmax(wei, dim=-1)
        return wei @ self.value(x)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.sa = Head(head_size)
        self.proj = nn.Linear(head_size, n_embd)
        self.ffwd = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(), nn.Linear(4 * n_embd, n_embd))
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.proj(self.sa(self.ln1(x)))
        return x + self.ffwd(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.block = Block()
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = self.token_embedding_table(idx) + self.position_embedding_table(torch.arange(T))
        logits = self.lm_head(self.block(x))
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        loss = F.cross_entropy(logits.view(B * T, C), targets.view(B * T))
        return logits, loss


model = TinyGPT()
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
losses = []
for it in range(80):
    xb, yb = get_batch(16)
    logits, loss = model(xb, yb)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f"loss {losses[0]:.3f} -> {losses[-1]:.4f}")
assert losses[-1] < 0.05 < losses[0]

# the mask really is causal: changing the last token changes no earlier prediction
x = data[:block_size].unsqueeze(0)
x2 = x.clone()
x2[0, -1] = (x2[0, -1].item() + 3) % vocab_size
with torch.no_grad():
    a, _ = model(x)
    b, _ = model(x2)
assert torch.allclose(a[:, :-1], b[:, :-1]) and not torch.allclose(a[:, -1], b[:, -1])
# tril and triu split a matrix in two, and the tensor methods agree with the functions
m = torch.randn(5, 5)
assert torch.equal(torch.tril(m) + torch.triu(m, diagonal=1), m)
assert torch.equal(m.tril(-1), torch.tril(m, -1)) and torch.equal(m.triu(), torch.triu(m))

report({"loss": losses[-1]}, tol={"loss": 0.001})  # PyTorch over seeds 0-5: 0.00030-0.00045
