"""roll.batch_id: the controller-side record that halts the later hosts of a rolling batch."""
from __future__ import annotations

import os
import tempfile

from ansible_collections.dockyard.fleet.plugins.action.service import (
    batch_failed, record_batch_failure)


def test_no_failure_recorded_means_go_on(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert batch_failed("b1") is None


def test_the_first_failed_host_halts_the_rest_of_its_batch_only(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    record_batch_failure("b1", "app3")
    record_batch_failure("b1", "app4")  # a halted host failing too keeps the first name
    assert batch_failed("b1") == "app3"
    assert batch_failed("b2") is None
    base = tmp_path / ("dockyard-roll-%d" % os.getuid())
    assert oct(base.stat().st_mode & 0o777) == "0o700"
    assert len(list(base.iterdir())) == 1  # the file is named after a hash of the id
