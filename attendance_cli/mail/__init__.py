"""Sending by e-mail: letters and digests handed to the school's mail server, each recorded in the
ledger as sent or failed, never sent twice.

`smtp`: the connection to the server (STARTTLS, TLS or none, the login, the rate limit) and what a
refusal or a lost connection means. `outbox`: the ledger's side: a message is claimed ('sending')
before it goes, then marked sent or failed; letters are read back from the .eml files a run wrote
(never written again), digests built from the files a digest run wrote.
"""
