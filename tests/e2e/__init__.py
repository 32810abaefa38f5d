"""Tier 3, end to end: signed requests over HTTP into Baton's web app on a loopback port, a
real database, and Slack Web API calls out to the emulator, which records them."""
