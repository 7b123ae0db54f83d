"""web: what a person or a program reaches over HTTP.

Owns the small WSGI toolkit (`app`: routes, requests, responses), the server (`server`:
waitress with limits and a graceful stop) and its settings (`config`), security headers
and CSRF (`security`), the public service assembled (`public`): the pages (`pages`,
`render`), the JSON API (`api`, `documents`, `params`, `openapi.yaml`), answers cached
by what they depend on (`cache`), Atom feeds (`feeds`), the subscription forms
(`subscribe`, `forms`) and their rate limits (`ratelimit`), the links in mail (`links`)
and stored page versions (`snapshots`).

May import: `export`, `watch`, `law`, `alerts`, `storage` and the root modules.
"""
