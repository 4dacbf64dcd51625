"""Whether medic's setup works: a check of every configured dependency (`medic doctor`), the
blocking subset the worker and the gateway run at start-up, readiness for `/readyz`, and the
worker's health server.

Every check ends ok, warning, failure or skipped, with one line that says what was found and, when
not ok, one sentence that says what to do. Nothing here changes anything outside: the push
permission is a dry run, the notification URLs are connected to, never posted to.
"""
