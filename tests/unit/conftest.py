"""Unit tests import the collection from the working tree as
ansible_collections.dockyard.fleet (collections/ holds a link to the repo root)."""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "collections"))
