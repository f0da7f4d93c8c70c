"""The fork server the harness runs playbooks through (forkserver.py): a run through it gives
what `ansible-playbook` gives, a timeout raises as subprocess.run's does, and a run asked for
while another is in progress is refused (its caller starts ansible-playbook itself). Local plays
only: no lab.
"""
import os
import subprocess
import textwrap
import time

import pytest

import forkserver
from conftest import REPO

PLAY = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: What the run sees
      debug:
        msg: "probe={{ lookup('env', 'FS_PROBE') }}"
    - name: A module run (its payload goes through the local temp directory)
      command: "true"
      changed_when: false
    - name: Sleep when asked
      shell: touch started && exec sleep {{ nap }}
      args:
        chdir: "{{ playbook_dir }}"
      changed_when: false
      when: nap is defined
    - name: Fail when asked
      fail:
        msg: failed as asked
      when: fail_now | default(false) | bool
"""


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "play.yml"
    path.write_text(textwrap.dedent(PLAY))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", FS_PROBE="seen",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "local-tmp"))
    python = os.path.join(REPO, ".venv", "bin", "python")
    # the playbook's path is relative: the run must happen in the directory it is given
    cmd = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", "localhost,",
           "-e", "ansible_python_interpreter=" + python, "play.yml"]
    server = forkserver.ForkServer(python, env, REPO)
    yield server, cmd, env, tmp_path
    server.close()


def test_a_run_through_the_server_gives_what_ansible_playbook_gives(setup):
    server, cmd, env, tmp_path = setup
    for extra, rc in (([], 0), (["-e", "fail_now=true"], 2), (["--no-such-option"], 2)):
        plain = subprocess.run(cmd + extra, capture_output=True, text=True, env=env,
                               cwd=tmp_path, check=False)
        served = server.run(cmd + extra, env, str(tmp_path), 300, str(tmp_path))
        assert (served.returncode, plain.returncode) == (rc, rc), served.stdout + served.stderr
        assert served.stdout == plain.stdout
        assert served.stderr == plain.stderr
    ok = server.run(cmd, env, str(tmp_path), 300, str(tmp_path))
    assert "probe=seen" in ok.stdout, ok.stdout
    # each child removed its own local temp directory; the server keeps its own until it ends
    assert len(os.listdir(tmp_path / "local-tmp")) == 1


def test_a_timeout_raises_and_the_server_serves_on(setup):
    server, cmd, env, tmp_path = setup
    t0 = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        server.run(cmd + ["-e", "nap=61.25"], env, str(tmp_path), 45, str(tmp_path))
    assert time.monotonic() - t0 < 60
    assert (tmp_path / "started").exists(), "45 s were not enough to reach the sleep"
    # The run's process group is killed; the command itself, started by the module in a
    # session of its own, lives on, as it does when subprocess.run's timeout kills
    # ansible-playbook alone.
    subprocess.run(["pkill", "-f", "sleep 61.25"], check=False)
    assert server.run(cmd, env, str(tmp_path), 300, str(tmp_path)).returncode == 0


def test_a_second_run_at_once_is_refused_not_queued(setup):
    server, cmd, env, tmp_path = setup
    with server._busy:   # another thread's run in progress
        assert server.run(cmd, env, str(tmp_path), 300, str(tmp_path)) is None
    assert server.run(cmd, env, str(tmp_path), 300, str(tmp_path)).returncode == 0
