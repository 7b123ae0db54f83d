"""web: what a person or a program reaches over HTTP.

Owns the small WSGI toolkit (`app`: routes, requests, responses) and the public routes
(`links`: the confirm and unsubscribe links in mail).

May import: `export`, `watch`, `law`, `alerts`, `storage` and the root modules.
"""
