"""Plan on pull request, apply on merge: change set, records, fingerprint, Markdown."""
