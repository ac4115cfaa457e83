"""Letters to families: the letters stage of the pipeline.

exports -> triggers (new events naming a letter) -> `facts` (figures, sessions, guardians) ->
`render` (wording template -> PDF/HTML/text/e-mail, `pdf` compiles on every core) -> `deliver`
(staged, recorded in the ledger, moved into place). `templates` and `markup` are the wording
format and the sandbox; `school` and `contacts` read the settings and guardians files.

Import the modules themselves: this package imports nothing, so worker processes that render and
compile letters start without Polars.
"""
