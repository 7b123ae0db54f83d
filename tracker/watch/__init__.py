"""watch: watching official pages for changes.

One check of one source runs `check.check_source`: fetch (`fetch`, politely per host:
`hosts`, `robots`) -> extract (`extract/`: html, pdf, json, federal_register, feed) ->
normalize (`normalize`) -> compare and store (`store`, `snapshots`, `diff`), which emits
`page_changed` or `source_failing`. `sources` and `operator_sources` read the source files;
`cycle` checks many sources at once (`tracker check`); `watcher` holds what a check needs;
`policy` is the scheduling policy; `quarantine` moves damaged snapshots aside.

May import: `law` (a source belongs to a place), `alerts`, `storage` and the root modules.
"""
