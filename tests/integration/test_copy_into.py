"""dockyard.fleet.container_copy_into against a real lab engine over SSH: a file written only
when its content, mode or owner differ (every write run twice: the second changes nothing),
check mode and diff predicting the real run, src found as copy finds it, on the controller
and on the host, symlinks, force, and the failures (nothing written)."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest
import yaml
from conftest import REPO, numbered_tasks, results_in_order

H = "app1"
V1 = "dockyard/demo:v1"


@pytest.fixture(scope="module")
def api(lab):
    lab.load_image(H, V1)
    lab.clean(H, "cp-")
    api = lab.docker(H).api
    api.create_container(V1, name="cp-web")
    api.start("cp-web")
    api.create_container(V1, name="cp-stopped")   # created, never started
    api.create_container(V1, name="cp-ro", host_config=api.create_host_config(read_only=True))
    api.start("cp-ro")
    # a tmpfs and a bind of one file (the lab's engines share this machine's filesystem)
    bound = tempfile.NamedTemporaryFile(prefix="dyk-cp-bound-", delete=False)
    bound.close()
    api.create_container(V1, name="cp-mounts", host_config=api.create_host_config(
        tmpfs={"/www/t": ""}, binds={bound.name: {"bind": "/www/bound.txt", "mode": "rw"}}))
    api.start("cp-mounts")
    yield api
    lab.clean(H, "cp-")
    os.unlink(bound.name)


def in_container(api, container, path):
    """(data, mode, uid, gid) of the file at path, or the entry's type for a non-file, None
    when there is nothing: read straight from the engine, not through the module."""
    try:
        chunks, _stat = api.get_archive(container, path)
    except Exception as exc:  # pylint: disable=broad-except
        if getattr(exc, "status_code", None) == 404:
            return None
        raise
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.next()
        if not member.isfile():
            return "symlink" if member.issym() else member.type
        return tar.extractfile(member).read(), member.mode & 0o7777, member.uid, member.gid


def put(api, container, directory, *entries):
    """Make files and symlinks in a container directly: (name, data or None, linkname)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    api.put_archive(container, directory, out.getvalue())


def tasks(*items, check=False):
    return numbered_tasks("dockyard.fleet.container_copy_into", H, *items, check=check)


def twice(play, playbook, **kw):
    """A real run and a second one; the second must change nothing. -> the first's results."""
    first = play(playbook, **kw)
    assert first.rc == 0, first.stdout[-3000:]
    again = play(playbook, **kw)
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    assert all(not r["changed"] and r["changes"] == [] for r in results_in_order(again))
    return results_in_order(first)


def test_a_file_is_written_once_and_then_only_when_it_differs(lab, play, api):
    first = {"container": "cp-web", "content": "one\n", "dest": "/www/conf.txt"}
    check = play(tasks(first), check=True, diff=True)
    (predicted,) = results_in_order(check)
    assert predicted["changed"] and predicted["changes"] == ["created"], predicted
    assert in_container(api, "cp-web", "/www/conf.txt") is None   # check mode wrote nothing
    assert "+one" in check.stdout and "mode: 0644" in check.stdout   # the diff shows it
    (made,) = twice(play, tasks(first))
    assert in_container(api, "cp-web", "/www/conf.txt") == (b"one\n", 0o644, 0, 0)
    assert (made["changes"], made["mode"], made["owner_id"], made["size"]) == (["created"], "0644", 0, 4)
    assert made["checksum"] == hashlib.sha1(b"one\n").hexdigest() == predicted["checksum"]
    assert made["execution"] == "controller" and made["invocations"] == 0
    # the content, then the mode and owner alone: each predicted, made, and no change after
    for args, changes, expected in (
            (dict(first, content="two\n"), ["content"], (b"two\n", 0o644, 0, 0)),
            (dict(first, content="two\n", mode="0600", owner_id=1000, group_id=1001), ["mode", "owner"],
             (b"two\n", 0o600, 1000, 1001)),
            # left out: the file keeps its mode and owner
            (dict(first, content="three\n"), ["content"], (b"three\n", 0o600, 1000, 1001))):
        check = play(tasks(args), check=True, diff=True)
        (predicted,) = results_in_order(check)
        assert predicted["changes"] == changes and predicted["changed"], (args, predicted)
        assert in_container(api, "cp-web", "/www/conf.txt") != expected
        (real,) = twice(play, tasks(args))
        assert real["changes"] == changes, real
        assert in_container(api, "cp-web", "/www/conf.txt") == expected
    assert "-two" in check.stdout and "+three" in check.stdout, check.stdout[-2000:]
    # the container still serves: the write went into the running container's filesystem
    assert lab.ssh(H, "docker exec cp-web /bin/busybox cat /www/conf.txt").stdout == "three\n"


def test_src_from_the_controller_on_the_controller_and_on_the_host(lab, play, api, tmp_path):
    (tmp_path / "files").mkdir()
    script = tmp_path / "files" / "probe.sh"
    script.write_bytes(b"#!/bin/sh\necho probe\n")
    script.chmod(0o750)
    binary = bytes(range(256)) * 4
    playbook = tmp_path / "copy.yml"
    playbook.write_text(tasks(
        {"container": "cp-web", "src": "probe.sh", "dest": "/www/probe.sh", "mode": "preserve"},
        {"container": "cp-web", "src": str(script), "dest": "/www/probe-host.sh", "mode": "preserve",
         "execution": "host"},
        {"container": "cp-web", "content": base64.b64encode(binary).decode(), "content_is_b64": True,
         "dest": "/www/blob.bin", "execution": "host"},
        {"container": "cp-stopped", "src": "probe.sh", "dest": "/www/probe.sh"},
    ))
    rel, on_host, blob, stopped = twice(play, str(playbook))
    assert rel["execution"] == "controller" and on_host["execution"] == "host" and on_host["invocations"] == 1
    assert in_container(api, "cp-web", "/www/probe.sh") == (script.read_bytes(), 0o750, 0, 0)
    assert in_container(api, "cp-web", "/www/probe-host.sh") == (script.read_bytes(), 0o750, 0, 0)
    assert in_container(api, "cp-web", "/www/blob.bin") == (binary, 0o644, 0, 0)
    assert blob["changes"] == ["created"]
    # a container that never ran takes the file too
    assert stopped["changed"] and in_container(api, "cp-stopped", "/www/probe.sh")[0] == script.read_bytes()
    # a binary file's diff is skipped, not printed
    res = play(tasks({"container": "cp-web", "content": base64.b64encode(binary[::-1]).decode(),
                      "content_is_b64": True, "dest": "/www/blob.bin"}), check=True, diff=True)
    (predicted,) = results_in_order(res)
    assert predicted["changes"] == ["content"] and "binary" in res.stdout, res.stdout[-2000:]


def test_symlinks_and_force(lab, play, api):
    put(api, "cp-web", "/www", ("target.txt", b"old\n", None), ("link.txt", None, "target.txt"),
        ("keep.txt", b"theirs\n", None), ("link2.txt", None, "target.txt"), ("link3.txt", None, "target.txt"))
    followed, replaced, kept, seeded, link_kept = twice(play, tasks(
        {"container": "cp-web", "content": "new\n", "dest": "/www/link.txt", "follow": True},
        {"container": "cp-web", "content": "own\n", "dest": "/www/link2.txt"},
        {"container": "cp-web", "content": "ours\n", "dest": "/www/keep.txt", "force": False},
        {"container": "cp-web", "content": "seed\n", "dest": "/www/seed.txt", "force": False},
        {"container": "cp-web", "content": "mine\n", "dest": "/www/link3.txt", "force": False},
    ))
    assert followed["dest"] == "/www/target.txt" and followed["changes"] == ["content"]
    assert in_container(api, "cp-web", "/www/target.txt")[0] == b"new\n"
    assert in_container(api, "cp-web", "/www/link.txt") == "symlink"   # still the link
    assert replaced["changes"] == ["replaced symlink"]
    assert in_container(api, "cp-web", "/www/link2.txt")[0] == b"own\n"
    assert not kept["changed"] and "force is false" in kept["msg"]
    assert in_container(api, "cp-web", "/www/keep.txt")[0] == b"theirs\n"
    assert seeded["changed"] and in_container(api, "cp-web", "/www/seed.txt")[0] == b"seed\n"
    # force false leaves whatever is there, a symlink too
    assert not link_kept["changed"] and in_container(api, "cp-web", "/www/link3.txt") == "symlink"


def test_failures_name_the_option_and_write_nothing(lab, play, api):
    before = lab.ssh(H, "docker exec cp-web /bin/busybox ls -R /www").stdout
    res = play(tasks(
        {"container": "cp-gone", "content": "x", "dest": "/www/x"},
        {"container": "cp-web", "content": "x", "dest": "/nodir/x"},
        {"container": "cp-web", "content": "x", "dest": "/www"},
        {"container": "cp-web", "content": "x", "dest": "/www/index.html/x"},
        {"container": "cp-web", "content": "x", "dest": "www/x"},
        {"container": "cp-web", "content": "x", "dest": "/www/x", "mode": "u+rwx"},
        {"container": "cp-web", "src": "no-such-file", "dest": "/www/x"},
        {"container": "cp-web", "content": "%%%", "content_is_b64": True, "dest": "/www/x"},
        {"container": "cp-ro", "content": "x", "dest": "/www/x"},
        {"container": "cp-web", "content": "x", "src": "/etc/hostname", "dest": "/www/x"},
        {"container": "cp-mounts", "content": "x", "dest": "/www/t/x"},
        {"container": "cp-mounts", "content": "x", "dest": "/www/bound.txt"},
        {"container": "cp-web", "content": "x", "dest": "/etc/hosts"},
    ))
    out = results_in_order(res)
    assert all(r["status"] == "failed" and not r["changed"] for r in out), out
    gone, nodir, isdir, notdir, relative, mode, nosrc, b64, readonly, both, tmpfs, bound, hosts = (
        r["msg"] for r in out)
    assert gone == "container cp-gone not found (option container)"
    assert "directory /nodir does not exist" in nodir and "(option dest" in nodir
    assert "/www is a directory" in isdir and "(option dest)" in isdir
    assert "/www/index.html (or a directory on its path) is not a directory" in notdir, notdir
    assert relative.startswith("dest: must be an absolute path")
    assert mode.startswith("mode: must be an octal number")
    assert nosrc.startswith("src: ") and "no-such-file" in nosrc
    assert b64.startswith("content: is not valid base64")
    assert "read-only" in readonly and "/www/x" in readonly, readonly
    assert "mutually exclusive" in both and "src" in both
    # what the archive API would write where the container does not look, or cannot write
    assert "tmpfs mount /www/t" in tmpfs and "(option dest)" in tmpfs, tmpfs
    assert "mount point" in bound and "(option dest)" in bound, bound
    assert "bind-mounts it" in hosts, hosts
    # check mode says so too
    checked = results_in_order(play(tasks({"container": "cp-mounts", "content": "x", "dest": "/www/t/y"},
                                          check=True)))
    assert checked[0]["status"] == "failed" and "tmpfs" in checked[0]["msg"]
    assert lab.ssh(H, "docker exec cp-web /bin/busybox ls -R /www").stdout == before


def test_an_ssh_engine_through_the_docker_sdk(lab, play, api, tmp_path):
    """docker_host ssh:// from the controller (delegate_to: localhost): the SDK's archive calls
    (its get_archive stands in for the stat the collection's own client asks with HEAD)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(os.path.join(lab.dir, "known_hosts"), home / ".ssh" / "known_hosts")
    (home / ".ssh" / "config").write_text("Host %s\n  IdentityFile %s\n  User root\n"
                                          % (lab.addr(H), os.path.join(lab.dir, "id_ed25519")))
    play_ = yaml.safe_load(tasks(
        {"container": "cp-web", "content": "over ssh\n", "dest": "/www/ssh.txt", "owner_id": 7,
         "docker_host": "ssh://root@%s" % lab.addr(H)},
        {"container": "cp-web", "content": "x", "dest": "/nodir/ssh.txt",
         "docker_host": "ssh://root@%s" % lab.addr(H)}))
    for task in play_[0]["tasks"]:
        task.update(delegate_to="localhost", vars={"ansible_python_interpreter": "{{ ansible_playbook_python }}"})
    env = {"HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
           "ANSIBLE_HOME": str(tmp_path / "ansible-home")}
    for attempt in ("first", "again"):
        res = play(yaml.safe_dump(play_), env=env)
        written, missing = results_in_order(res)
        assert written["status"] == "ok" and written["changed"] == (attempt == "first"), written
        assert written["execution"] == "host", written
        assert missing["status"] == "failed" and "directory /nodir does not exist" in missing["msg"], missing
    assert in_container(api, "cp-web", "/www/ssh.txt") == (b"over ssh\n", 0o644, 7, 0)


def test_a_vault_encrypted_src_is_written_decrypted(lab, play, api, tmp_path):
    """As ansible.builtin.copy: the file in the container is the plain text, on the controller
    (the run there) and on the host (src sent as content)."""
    secret = tmp_path / "secret.ini"
    secret.write_text("password = hunter2\n")
    password = tmp_path / "vault-pass"
    password.write_text("bench-vault-pass\n")
    subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-vault"), "encrypt", "--vault-password-file",
                    str(password), str(secret)], check=True, capture_output=True)
    assert secret.read_text().startswith("$ANSIBLE_VAULT")
    playbook = tasks({"container": "cp-web", "src": str(secret), "dest": "/www/secret.ini"},
                     {"container": "cp-web", "src": str(secret), "dest": "/www/secret-host.ini", "execution": "host"})
    first = play(playbook, args=["--vault-password-file", str(password)])
    assert first.rc == 0 and first.changed == 2, first.stdout[-3000:]
    for dest in ("/www/secret.ini", "/www/secret-host.ini"):
        assert in_container(api, "cp-web", dest)[0] == b"password = hunter2\n"
    again = play(playbook, args=["--vault-password-file", str(password)])
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
