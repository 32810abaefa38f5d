"""Status digests (SPEC section 6): subscriptions per channel, the sweep job that fires them,
the digest itself and the insight behind it (projected finishes, risk, bottlenecks)."""
