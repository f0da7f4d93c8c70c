"""Stand-in for the pip bootstrap script that ansible-test downloads from a host this
project's machines cannot reach. ansible-test runs it in a fresh virtualenv as
`python get_pip.py <pip options> pip==X [--no-setuptools] [--no-wheel]` (get-pip's syntax: an
implied `install`); we bootstrap the pip bundled with CPython (ensurepip) and run
`pip install <the same packages>` with it, so pip X itself comes from PyPI.
"""
import ensurepip
import os
import subprocess
import sys

env = dict(os.environ)
ensurepip.bootstrap(upgrade=True)  # it points PIP_CONFIG_FILE at /dev/null in os.environ
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
# A fresh process, so pip reads the machine's pip configuration (certificates, indexes).
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=env))
