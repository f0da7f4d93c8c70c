"""Host-key checking stays on in every shipped config: no file of the repository turns it
off (ansible.cfg, molecule scenarios, inventories, playbooks, tools, benchmarks)."""
from __future__ import annotations

import os
import re
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OFF = re.compile(r"host_key_checking\s*[=:]\s*(false|no|0)\b|StrictHostKeyChecking[= ]+(no|off|accept-new)\b"
                 r"|UserKnownHostsFile[= ]+/dev/null|ANSIBLE_HOST_KEY_CHECKING\W+(false|no|0)\b", re.I)


def shipped_files():
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    for path in out.stdout.splitlines():
        # prose (docs, changelogs) may name the settings; configs and code may not set them
        if path.startswith("tests/unit/") or path.endswith((".png", ".tar", ".json", ".md", ".log")):
            continue
        full = os.path.join(REPO, path)
        if os.path.isfile(full) and not os.path.islink(full):
            yield path, full


def test_no_shipped_file_turns_host_key_checking_off():
    offenders = []
    for path, full in shipped_files():
        with open(full, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if OFF.search(line):
                    offenders.append("%s:%d: %s" % (path, n, line.strip()))
    assert offenders == []


def test_ansible_cfg_checks_host_keys():
    with open(os.path.join(REPO, "ansible.cfg")) as f:
        assert re.search(r"^host_key_checking\s*=\s*True\s*$", f.read(), re.M)


def test_lab_inventory_template_pins_known_hosts():
    with open(os.path.join(REPO, "tools", "lab")) as f:
        text = f.read()
    assert "StrictHostKeyChecking=yes" in text and "UserKnownHostsFile=" in text
