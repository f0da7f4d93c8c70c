# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`molecule test` of roles/docker_engine against the lab's app hosts (already ready: dockerd
running without systemd, packages installed): syntax, converge, idempotence, verify. The
converge run itself must change nothing either."""
from __future__ import annotations

import os
import re

import pytest

from conftest import LAB_ID, REPO, run_molecule

RECAP = re.compile(r"^\s*[│|]?\s*(app\d+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                   r"failed=(\d+)", re.M)


def test_molecule_docker_engine(lab):
    default_dir = os.path.join(REPO, ".lab", "lab%s" % LAB_ID)
    if os.path.realpath(lab.dir) != os.path.realpath(default_dir):
        pytest.skip("molecule.yml finds the lab inventory under .lab/lab<id>; DOCKYARD_LAB_DIR "
                    "points elsewhere")
    out = run_molecule("docker_engine", timeout=600, MOLECULE_NO_LOG="false")
    # first (converge) recap: every app host ok, nothing changed, nothing failed
    first = out[out.index("converge"):]
    recaps = RECAP.findall(first)
    hosts = {m[0] for m in recaps}
    assert hosts >= set(lab.app_hosts), out[-5000:]
    for host, _ok, changed, unreachable, failed in recaps[:len(lab.app_hosts)]:
        assert (changed, unreachable, failed) == ("0", "0", "0"), (host, out[-5000:])
