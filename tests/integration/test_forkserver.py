"""The fork server the harness runs playbooks through (forkserver.py): a run through it gives
what `ansible-playbook` gives, a timeout raises as subprocess.run's does, and a run asked for
while another is in progress is refused (its caller starts ansible-playbook itself), and a
collection edited between runs is the code that runs (the server's caches are keyed on
content; the module payloads' bytecode is loaded). Local plays only: no lab.
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


PYTHON = os.path.join(REPO, ".venv", "bin", "python")


def _env_and_cmd(tmp_path, playbook, **extra_env):
    """The environment of a local run in tmp_path, and the command that runs playbook (a
    path relative to tmp_path: the run must happen in the directory it is given)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "local-tmp"), **extra_env)
    cmd = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", "localhost,",
           "-e", "ansible_python_interpreter=" + PYTHON, playbook]
    return env, cmd


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "play.yml"
    path.write_text(textwrap.dedent(PLAY))
    env, cmd = _env_and_cmd(tmp_path, "play.yml", FS_PROBE="seen")
    server = forkserver.ForkServer(PYTHON, env, REPO)
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


def _write_collection(root, value):
    """A collection t.c whose module and action plugin both report `value` from a module_utils
    file (the action plugin imports it through ansible's collection loader, whose compile the
    server caches; the module carries it in its payload)."""
    base = root / "ansible_collections" / "t" / "c"
    (base / "plugins" / "modules").mkdir(parents=True, exist_ok=True)
    (base / "plugins" / "module_utils").mkdir(parents=True, exist_ok=True)
    (base / "plugins" / "action").mkdir(parents=True, exist_ok=True)
    (base / "galaxy.yml").write_text("namespace: t\nname: c\nversion: 1.0.0\n")
    (base / "plugins" / "module_utils" / "_value.py").write_text("VALUE = %r\nFILE = __file__\n" % value)
    (base / "plugins" / "modules" / "probe.py").write_text(textwrap.dedent("""\
        from ansible.module_utils.basic import AnsibleModule
        from ansible_collections.t.c.plugins.module_utils._value import VALUE, FILE
        def main():
            AnsibleModule(argument_spec={}).exit_json(changed=False, module_value=VALUE,
                                                      loaded_from=FILE.rsplit(".", 1)[-1])
        if __name__ == "__main__":
            main()
        """))
    (base / "plugins" / "action" / "probe.py").write_text(textwrap.dedent("""\
        from ansible.plugins.action import ActionBase
        from ansible_collections.t.c.plugins.module_utils._value import VALUE
        class ActionModule(ActionBase):
            def run(self, tmp=None, task_vars=None):
                res = self._execute_module(task_vars=task_vars)
                res["action_value"] = VALUE
                return res
        """))


def test_code_edited_while_the_server_runs_is_the_code_that_runs(tmp_path):
    """The server compiles the collections' plugins once and the children share the module
    payloads it builds: both keyed on the files' content, so an edit is never missed. The
    payloads carry bytecode, which the module's Python loads."""
    colls = tmp_path / "colls"
    _write_collection(colls, "one")
    env, cmd = _env_and_cmd(tmp_path, "probe.yml", ANSIBLE_COLLECTIONS_PATH=str(colls))
    (tmp_path / "probe.yml").write_text(textwrap.dedent("""\
        - hosts: localhost
          connection: local
          gather_facts: false
          tasks:
            - t.c.probe:
              register: got
            - debug:
                msg: "values={{ got.module_value }}/{{ got.action_value }} from={{ got.loaded_from }}"
        """))
    # the payload's bytecode is what the host's Python loads (same version here); with
    # DOCKYARD_TEST_PAYLOAD_BYTECODE=0, the sources, as ansible sends them
    for flag, loaded_from in (("1", "pyc"), ("0", "py")):
        run_env = dict(env, DOCKYARD_TEST_PAYLOAD_BYTECODE=flag)
        server = forkserver.ForkServer(PYTHON, run_env, REPO)
        try:
            for value in ("one", "one", "three", "three"):
                _write_collection(colls, value)
                res = server.run(cmd, run_env, str(tmp_path), 300, str(tmp_path))
                assert res.returncode == 0, res.stdout + res.stderr
                assert "values=%s/%s from=%s" % (value, value, loaded_from) in res.stdout, res.stdout
        finally:
            server.close()
