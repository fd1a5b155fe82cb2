"""Scans a file with Yelp's detect-secrets, default settings (every plugin,
the default filters), as `detect-secrets scan FILE` would, and prints what it
finds: one JSON object a line, {"line": N, "type": "...", "secret": "..."}.
Used by the redaction corpus test as an oracle independent of lcd."""

import json
import sys

from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings

found = SecretsCollection()
with default_settings():
    found.scan_file(sys.argv[1])
for secrets in found.data.values():
    for secret in secrets:
        print(json.dumps({"line": secret.line_number, "type": secret.type, "secret": secret.secret_value}))
