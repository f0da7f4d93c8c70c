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


# actions that never run a module on the host
LOCAL = {"set_fact", "assert", "validate_argument_spec", "fail", "debug", "meta"}


def test_a_ready_host_is_one_module_run(lab, play):
    """On a ready host (packages there, dockerd up) the role changes nothing, twice, and runs
    one module per host: the command that answers both the package and the init-system
    question. The engine ping reads the engine from the controller."""
    pb = "- hosts: app\n  gather_facts: false\n  roles:\n    - dockyard.fleet.docker_engine\n"
    for _run in (1, 2):
        res = play(pb)
        assert res.rc == 0 and res.changed == 0, res.stdout[-3000:]
        for host in lab.app_hosts:
            runs = [r["task"].split(" : ", 1)[-1] for r in res.records
                    if r["host"] == host and r["status"] != "skipped"
                    and r["action"].rsplit(".", 1)[-1] not in LOCAL
                    and r["result"].get("invocations", 1) != 0]
            assert runs == ["Which packages are installed, and is systemd the init system "
                            "(one command)"], (host, runs)
            ping = res.one(task="dockyard.fleet.docker_engine : Ping the engine", host=host)
            assert ping["execution"] == "controller" and ping["host_info"]["server_version"], ping
