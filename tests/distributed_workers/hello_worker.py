"""Prints this rank and the world size, after an all-reduce of the ranks (for the launcher test)."""

import numpy as np

from minimm import distributed as dist

dist.init(timeout=60)
total = dist.all_reduce(np.asarray([dist.rank()], dtype=np.int64))
print(f"rank {dist.rank()} of {dist.world_size()} ({dist.backend_name()}): sum of ranks {int(total[0])}", flush=True)
