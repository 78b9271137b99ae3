"""Window facts that every pipeline stage needs, kept apart so that importing them loads no torch."""

# The longest window a config may set: attention memory grows with its square (the published
# models use 30-50 kb windows).
MAX_WINDOW_NT = 1_000_000

NUCLEOTIDES_PER_TOKEN = 6
# The head pools twice, so tokens (without <cls>) must be divisible by 4: 6 * 4 = 24 nt.
WINDOW_MULTIPLE = NUCLEOTIDES_PER_TOKEN * 4


def window_overlap(window: int, configured: int | None) -> int:
    """Overlap between neighbouring windows: the configured one, else a quarter of the window
    (rounded down to a whole WINDOW_MULTIPLE)."""
    if configured is not None:
        return int(configured)
    return (window // 4) // WINDOW_MULTIPLE * WINDOW_MULTIPLE
