"""`molecule test` of the roles' default scenarios against this worker's lab:
syntax, (prepare,) converge, idempotence (a second converge changes nothing), verify."""
from __future__ import annotations

import pytest

from conftest import run_molecule


@pytest.mark.parametrize("role", ["haproxy", "deploy", "rolling_restart"])
def test_molecule_scenario(lab, role):
    out = run_molecule(role, timeout=900)
    assert "idempotence" in out.lower()
