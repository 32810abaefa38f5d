"""Integrations: hook steps done by other systems (SPEC section 7).

`calls.register(sweeper)` adds the job that calls due hooks; `callbacks.hook_routes(runtime)` is
the callback endpoint and its OpenAPI document; the admin commands live in `registry`.
"""
