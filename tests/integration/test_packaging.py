"""The collection as users get it: built with ansible-galaxy, installed into a fresh path,
used by FQCN from another folder (no repository ansible.cfg, no working tree)."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import tarfile

from conftest import REPO, ansible_env

GALAXY = os.path.join(REPO, ".venv", "bin", "ansible-galaxy")


def test_build_install_and_use_by_fqcn(lab, tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([GALAXY, "collection", "build", "--output-path", str(dist), REPO],
                   check=True, capture_output=True, text=True, cwd=REPO)
    (tarball,) = glob.glob(str(dist / "dockyard-fleet-*.tar.gz"))
    with tarfile.open(tarball) as t:
        names = t.getnames()
    assert "plugins/modules/container.py" in names and "roles/deploy/tasks/main.yml" in names
    assert "meta/runtime.yml" in names and "playbooks/site.yml" in names
    for junk in (".lab", ".venv", "collections", ".git", ".cache"):
        assert not any(n == junk or n.startswith(junk + "/") for n in names), junk

    colls = tmp_path / "colls"
    subprocess.run([GALAXY, "collection", "install", "--force", tarball, "-p", str(colls)],
                   check=True, capture_output=True, text=True, cwd=str(tmp_path))
    assert (colls / "ansible_collections" / "dockyard" / "fleet" / "MANIFEST.json").exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = ansible_env(lab)
    env.pop("ANSIBLE_CONFIG")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(colls)
    env["ANSIBLE_HOST_KEY_CHECKING"] = "True"
    env["DOCKYARD_RECORD"] = str(tmp_path / "record.jsonl")
    doc = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-doc"), "dockyard.fleet.service"],
                         env=env, cwd=str(elsewhere), capture_output=True, text=True, check=True)
    assert "replicas" in doc.stdout and str(colls) in doc.stdout
    (elsewhere / "use.yml").write_text(
        "- hosts: app\n"
        "  gather_facts: false\n"
        "  module_defaults:\n"
        "    group/dockyard.fleet.docker:\n"
        "      timeout: 30\n"
        "  tasks:\n"
        "    - name: Engine facts by FQCN\n"
        "      dockyard.fleet.host_info:\n"
        "      register: info\n"
        "    - name: A container, check mode\n"
        "      dockyard.fleet.container:\n"
        "        name: pkg-check\n"
        "        image: dockyard/demo:v1\n"
        "        state: absent\n"
        "      check_mode: true\n")
    res = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "use.yml"],
                         env=env, cwd=str(elsewhere), capture_output=True, text=True, check=False,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    with open(tmp_path / "record.jsonl") as f:
        records = [json.loads(line) for line in f]
    infos = [r for r in records if r["action"] == "dockyard.fleet.host_info"]
    assert len(infos) == len(lab.app_hosts)
    assert all(r["status"] == "ok" and not r["result"]["changed"] for r in infos)
