"""law: what the law is, where, when, and as known when.

Owns places (`places`: countries, US states, counties and cities), the bitemporal status
history (`belief`, `history`; its read side `asof`), the review loop (`review`: places
under review after their official page changed), the effective status of a place across
its chain (`effective`), dates with their precision (`dates`), the reviewed data files in
`jurisdictions/` (`datafile`, `recordfile`, `recordset`, `loader`), the calendar events of
recorded rules (`reminders`) and opening a database ready for use (`bootstrap`).

May import: `alerts` (a recorded change emits its event in its own transaction),
`storage` and the root modules.
"""
