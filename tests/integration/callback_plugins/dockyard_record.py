# Test-only callback: records every task result as one JSON line in the file
# named by $DOCKYARD_RECORD, so integration tests can assert on module results.
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: dockyard_record
type: aggregate
short_description: record task results as JSON lines (tests only)
description: Writes one JSON object per task result to the file in DOCKYARD_RECORD.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "dockyard_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("DOCKYARD_RECORD")

    def _write(self, status, result):
        if not self._path:
            return
        try:
            data = json.loads(json.dumps(result._result, default=str))
        except (TypeError, ValueError):
            data = {"unserialisable": str(result._result)}
        item = {"host": result._host.get_name(), "task": result._task.get_name(),
                "action": result._task.action, "status": status, "result": data}
        with open(self._path, "a") as f:
            f.write(json.dumps(item, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("failed", result)

    def v2_runner_on_unreachable(self, result):
        self._write("unreachable", result)

    def v2_runner_on_skipped(self, result):
        self._write("skipped", result)
