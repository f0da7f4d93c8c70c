# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`molecule test` of roles/docker_engine against the lab's app hosts (already ready: dockerd
running without systemd, packages installed): syntax, converge, idempotence, verify. The
converge run itself must change nothing either."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(REPO, "roles", "docker_engine")
LAB_ID = os.environ.get("DOCKYARD_LAB_ID", "0")
RECAP = re.compile(r"^\s*[│|]?\s*(app\d+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                   r"failed=(\d+)", re.M)


def test_molecule_docker_engine(lab):
    default_dir = os.path.join(REPO, ".lab", "lab%s" % LAB_ID)
    if os.path.realpath(lab.dir) != os.path.realpath(default_dir):
        pytest.skip("molecule.yml finds the lab inventory under .lab/lab<id>; DOCKYARD_LAB_DIR "
                    "points elsewhere")
    env = dict(os.environ, DOCKYARD_LAB_ID=LAB_ID, NO_COLOR="1", PY_COLORS="0",
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", MOLECULE_NO_LOG="false",
               PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    env.pop("ANSIBLE_INVENTORY", None)
    proc = subprocess.run(["molecule", "test"], cwd=ROLE, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    # the working tree's collection, not a copy installed under a concurrent run
    assert "Performing prerun" not in out, out[-3000:]
    # first (converge) recap: every app host ok, nothing changed, nothing failed
    first = out[out.index("converge"):]
    recaps = RECAP.findall(first)
    hosts = {m[0] for m in recaps}
    assert hosts >= set(lab.app_hosts), out[-5000:]
    for host, _ok, changed, unreachable, failed in recaps[:len(lab.app_hosts)]:
        assert (changed, unreachable, failed) == ("0", "0", "0"), (host, out[-5000:])
