"""Every molecule scenario runs the working tree's collection, never an installed copy:
molecule's prerun would build the collection and install it into ~/.ansible/collections,
and two scenarios running side by side (the test workers) then replace that copy under
each other mid-run (CI saw a module's module_utils missing for one host)."""
from __future__ import annotations

import glob
import os

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIOS = sorted(glob.glob(os.path.join(REPO, "roles", "*", "molecule", "*", "molecule.yml")))


def test_there_are_scenarios():
    assert len(SCENARIOS) >= 4


def test_no_prerun_and_the_working_tree_collection():
    for path in SCENARIOS:
        with open(path) as f:
            conf = yaml.safe_load(f)
        name = os.path.relpath(path, REPO)
        assert conf.get("prerun") is False, name
        # an absolute path: molecule runs ansible from its ephemeral directory, where a
        # relative one points nowhere
        coll = conf["provisioner"]["config_options"]["defaults"]["collections_path"]
        assert coll == "${MOLECULE_PROJECT_DIRECTORY}/../../collections", name
    # ... which reaches the working tree through the repository's link
    link = os.path.join(REPO, "collections", "ansible_collections", "dockyard", "fleet")
    assert os.path.realpath(link) == os.path.realpath(REPO)
