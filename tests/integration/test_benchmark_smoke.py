# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeps benchmarks/run working: its smoke variant (P1 on 2 hosts, 1 repetition, ours, ours
as a container loop, and the ping floor) against a lab of its own (id 7 unless a worker's lab
has it: conftest.spare_lab_ids). It checks that a table comes out, never
how fast anything was: timings belong to benchmarks, not to tests."""
from __future__ import annotations

import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from conftest import spare_lab_ids

LAB_ID = str(spare_lab_ids()[0])


def test_benchmark_smoke_prints_a_table():
    env = dict(os.environ, DOCKYARD_LAB_ID=LAB_ID)
    env.pop("DOCKYARD_LAB_DIR", None)
    lab = os.path.join(REPO, "tools", "lab")
    subprocess.run([lab, "up", "--hosts", "2"], env=env, check=True, cwd=REPO)
    try:
        proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "python"),
                               os.path.join(REPO, "benchmarks", "run"), "--smoke"],
                              env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
                              check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        out = proc.stdout
        assert "| scenario | side | median s |" in out, out
        rows = [line for line in out.splitlines() if line.startswith("| P1 ")]
        sides = {row.split("|")[2].strip() for row in rows}
        assert sides == {"ours", "ours_container_loop", "floor"}, out
        for row in rows:
            cells = [c.strip() for c in row.split("|")[1:-1]]
            float(cells[2])                    # a median was measured
            # module runs per host: the floor's ping 1, ours 0 (service and container run on
            # the controller)
            assert cells[7] == ("1" if cells[1] == "floor" else "0"), row
            assert int(cells[8]) >= 1, row     # the SSH connections were counted
        assert "load average" in out
    finally:
        if os.environ.get("DOCKYARD_LAB_KEEP") != "1":
            subprocess.run([lab, "down"], env=env, check=False, cwd=REPO)
