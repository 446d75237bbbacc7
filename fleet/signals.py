"""What the fleet tells apps above it, which it may not import (the import layers).

`verification_finished` is sent once a verification run is stored as succeeded, after its
transaction committed, with `run_id` and `stack_id` (ids only: a receiver that works on them
enqueues a task). The rollouts app evaluates its campaigns' gates on it.
"""

from __future__ import annotations

from django.dispatch import Signal

verification_finished = Signal()
