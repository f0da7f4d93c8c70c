"""`molecule test` of the roles' default scenarios against this worker's lab:
syntax, (prepare,) converge, idempotence (a second converge changes nothing), verify."""
from __future__ import annotations

import os
import subprocess

import pytest

from conftest import LAB_ID, REPO


@pytest.mark.parametrize("role", ["haproxy", "deploy", "rolling_restart"])
def test_molecule_scenario(lab, role):
    env = dict(os.environ, DOCKYARD_LAB_ID=str(LAB_ID), NO_COLOR="1", PY_COLORS="0",
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    env.pop("ANSIBLE_INVENTORY", None)
    proc = subprocess.run(["molecule", "test"], cwd=os.path.join(REPO, "roles", role), env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    # the working tree's collection, not a copy installed under a concurrent run
    assert "Performing prerun" not in out, out[-3000:]
    assert "idempotence" in out.lower()
