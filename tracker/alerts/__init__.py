"""alerts: telling people. Events, who wants them, and delivering them.

Owns events (`events.emit` writes an event and, in the same transaction, its outbox rows
and digest items through `fanout`), subscribers and their filters (`subscriptions`,
`filters`), webhook endpoints (`webhooks`), the outbox (`outbox`) and its dispatcher
(`dispatch`), digests (`digest`), the text of every message (`messages`, `views`,
templates in `templates/email/`), signed links (`tokens`) and the channels
(`notifiers/`: email over SMTP or as files, webhooks).

May import: `storage` and the root modules. It sits below `law` and `watch` because
recording a status or a page change writes its event in the same transaction (nothing is
lost between the cause and the message): they call `events.emit`; alerts only carries
what they put in an event's payload and never looks at law or watching itself.
"""
