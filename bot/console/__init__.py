"""`baton console`: try Baton with no Slack workspace (SPEC section 9)."""
