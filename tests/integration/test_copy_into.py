"""dockyard.fleet.container_copy_into against a real lab engine over SSH: a file written only
when its content, mode or owner differ (every write run twice: the second changes nothing),
check mode and diff predicting the real run, src found as copy finds it, on the controller
and on the host, symlinks, force, and the failures (nothing written)."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest
import yaml
from conftest import REPO, in_container, numbered_tasks, results_in_order

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
    # symlinked directories: into the tmpfs, into a read-only volume, and (an image's link) on a
    # read-only root into a writable volume
    put(api, "cp-mounts", "/www", ("tl", None, "/www/t"))
    api.create_container(V1, name="cp-rovol", host_config=api.create_host_config(
        binds={"cp-rovol-data": {"bind": "/www/ro", "mode": "ro"}}))
    put(api, "cp-rovol", "/www", ("rl", None, "/www/ro"))
    api.start("cp-rovol")
    api.create_container(V1, name="cp-linked")
    put(api, "cp-linked", "/", ("cfg", None, "/data"))
    api.commit("cp-linked", repository="dockyard/demo", tag="cp-link")
    api.create_container("dockyard/demo:cp-link", name="cp-ro-volume", host_config=api.create_host_config(
        read_only=True, binds={"cp-ro-volume-data": {"bind": "/data", "mode": "rw"}}))
    api.start("cp-ro-volume")
    yield api
    lab.clean(H, "cp-")
    api.remove_image("dockyard/demo:cp-link")
    os.unlink(bound.name)


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
    (the stat of each directory of dest a HEAD, as the collection's own client asks it; a file
    on the path is an error of the engine without a body)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(os.path.join(lab.dir, "known_hosts"), home / ".ssh" / "known_hosts")
    (home / ".ssh" / "config").write_text("Host %s\n  IdentityFile %s\n  User root\n"
                                          % (lab.addr(H), os.path.join(lab.dir, "id_ed25519")))
    play_ = yaml.safe_load(tasks(
        {"container": "cp-web", "content": "over ssh\n", "dest": "/www/ssh.txt", "owner_id": 7,
         "docker_host": "ssh://root@%s" % lab.addr(H)},
        {"container": "cp-web", "content": "x", "dest": "/nodir/ssh.txt",
         "docker_host": "ssh://root@%s" % lab.addr(H)},
        {"container": "cp-web", "content": "x", "dest": "/www/ssh.txt/under-a-file.txt",
         "docker_host": "ssh://root@%s" % lab.addr(H)}))
    for task in play_[0]["tasks"]:
        task.update(delegate_to="localhost", vars={"ansible_python_interpreter": "{{ ansible_playbook_python }}"})
    env = {"HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
           "ANSIBLE_HOME": str(tmp_path / "ansible-home")}
    for attempt in ("first", "again"):
        res = play(yaml.safe_dump(play_), env=env)
        written, missing, through_file = results_in_order(res)
        assert written["status"] == "ok" and written["changed"] == (attempt == "first"), written
        assert written["execution"] == "host", written
        assert missing["status"] == "failed" and "directory /nodir does not exist" in missing["msg"], missing
        assert through_file["status"] == "failed", through_file
        assert "/www/ssh.txt (or a directory on its path) is not a directory" in through_file["msg"], through_file
    assert in_container(api, "cp-web", "/www/ssh.txt") == (b"over ssh\n", 0o644, 7, 0)


def test_a_vault_encrypted_src_is_written_decrypted(lab, play, api, tmp_path):
    """As ansible.builtin.copy: the file in the container is the plain text, on the controller
    (the run there) and on the host (src sent as content), and --diff shows it decrypted."""
    secret = tmp_path / "secret.ini"
    secret.write_text("password = hunter2\n")
    password = tmp_path / "vault-pass"
    password.write_text("bench-vault-pass\n")
    subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-vault"), "encrypt", "--vault-password-file",
                    str(password), str(secret)], check=True, capture_output=True)
    assert secret.read_text().startswith("$ANSIBLE_VAULT")
    playbook = tasks({"container": "cp-web", "src": str(secret), "dest": "/www/secret.ini"},
                     {"container": "cp-web", "src": str(secret), "dest": "/www/secret-host.ini", "execution": "host"})
    first = play(playbook, args=["--vault-password-file", str(password)], diff=True)
    assert first.rc == 0 and first.changed == 2, first.stdout[-3000:]
    assert first.stdout.count("+password = hunter2") == 2, first.stdout[-3000:]
    for dest in ("/www/secret.ini", "/www/secret-host.ini"):
        assert in_container(api, "cp-web", dest)[0] == b"password = hunter2\n"
    again = play(playbook, args=["--vault-password-file", str(password)])
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]


def test_the_path_is_checked_as_the_engine_reaches_it(lab, play, api):
    """Symlinked directories on the way to dest are followed before the checks, and what the
    container does not see (the mounts and files the engine adds itself) is refused, in check
    mode too, on the controller and on the host; nothing is written."""
    hosts_before = in_container(api, "cp-stopped", "/etc/hosts")
    refused = [
        ({"container": "cp-mounts", "dest": "/www/tl/x.txt"}, "(through symlinks, /www/t/x.txt)",
         "tmpfs mount /www/t"),
        ({"container": "cp-mounts", "dest": "/www/tl/y.txt", "execution": "host"}, "/www/t/y.txt", "tmpfs mount"),
        ({"container": "cp-rovol", "dest": "/www/rl/x.txt"}, "(through symlinks, /www/ro/x.txt)",
         "read-only mount /www/ro"),
        ({"container": "cp-web", "dest": "/el/hosts"}, "(through symlinks, /etc/hosts)", "bind-mounts it"),
        ({"container": "cp-web", "dest": "/dev/x.txt"}, "/dev/x.txt", "under /dev, which the engine mounts itself"),
        ({"container": "cp-web", "dest": "/dev/shm/x.txt", "execution": "host"}, "/dev/shm/x.txt", "under /dev,"),
        ({"container": "cp-web", "dest": "/proc/x.txt"}, "/proc/x.txt", "under /proc,"),
        ({"container": "cp-web", "dest": "/sys/x.txt"}, "/sys/x.txt", "under /sys,"),
        # a container never started has no /etc/hosts of the engine's yet: it gets it at start
        ({"container": "cp-stopped", "dest": "/etc/hosts"}, "/etc/hosts", "bind-mounts it"),
        ({"container": "cp-stopped", "dest": "/etc/resolv.conf"}, "/etc/resolv.conf", "bind-mounts it"),
    ]
    put(api, "cp-web", "/", ("el", None, "/etc"))
    for check in (True, False):
        out = results_in_order(play(tasks(*[dict(case[0], content="x\n") for case in refused]), check=check))
        for (args, where, why), res in zip(refused, out):
            assert res["status"] == "failed" and not res["changed"], (args, res)
            assert "cannot write %s" % args["dest"] in res["msg"] and "(option dest)" in res["msg"], res["msg"]
            assert where in res["msg"] and why in res["msg"] and "/var/lib/" not in res["msg"], res["msg"]
    # the archive API reads the layer beneath those mounts: nothing there either
    assert in_container(api, "cp-mounts", "/www/t/x.txt") is None
    assert in_container(api, "cp-mounts", "/www/t/y.txt") is None
    assert in_container(api, "cp-rovol", "/www/ro/x.txt") is None
    assert in_container(api, "cp-web", "/dev/x.txt") is None and in_container(api, "cp-web", "/dev/shm/x.txt") is None
    assert in_container(api, "cp-stopped", "/etc/hosts") == hosts_before
    # a read-only root with a volume reached through the image's link /cfg -> /data: written
    # there, as docker cp does
    args = {"container": "cp-ro-volume", "content": "in the volume\n", "dest": "/cfg/x.txt"}
    (predicted,) = results_in_order(play(tasks(args), check=True))
    assert predicted["status"] == "ok" and predicted["changes"] == ["created"], predicted
    (made,) = twice(play, tasks(args))
    assert made["changes"] == ["created"] and made["dest"] == "/cfg/x.txt"
    assert in_container(api, "cp-ro-volume", "/data/x.txt")[0] == b"in the volume\n"
    assert lab.ssh(H, "docker exec cp-ro-volume /bin/busybox cat /cfg/x.txt").stdout == "in the volume\n"


def test_a_symlink_loop_at_dest(lab, play, api):
    """follow false replaces it, as a symlink at dest is replaced; follow fails naming dest,
    without the engine's host path."""
    put(api, "cp-web", "/www", ("loop", None, "loop"), ("loop2", None, "loop2"), ("loopdir", None, "loopdir"))
    check = play(tasks({"container": "cp-web", "content": "x\n", "dest": "/www/loop"}), check=True, diff=True)
    (predicted,) = results_in_order(check)
    assert predicted["changes"] == ["replaced symlink"] and "(a symlink)" in check.stdout, check.stdout[-2000:]
    assert lab.ssh(H, "docker exec cp-web /bin/busybox readlink /www/loop").stdout == "loop\n"
    (replaced,) = twice(play, tasks({"container": "cp-web", "content": "x\n", "dest": "/www/loop"}))
    assert replaced["changes"] == ["replaced symlink"] and in_container(api, "cp-web", "/www/loop")[0] == b"x\n"
    out = results_in_order(play(tasks(
        {"container": "cp-web", "content": "x\n", "dest": "/www/loop2", "follow": True},
        {"container": "cp-web", "content": "x\n", "dest": "/www/loop2", "follow": True, "execution": "host"},
        {"container": "cp-web", "content": "x\n", "dest": "/www/loopdir/x"})))
    for res in out:
        assert res["status"] == "failed" and "(option dest" in res["msg"] and "/var/lib/" not in res["msg"], res
    assert "/www/loop2 in container cp-web is a symlink that does not resolve" in out[0]["msg"], out[0]["msg"]
    assert "/www/loopdir (or a directory on its path) is not a directory" in out[2]["msg"], out[2]["msg"]
    assert lab.ssh(H, "docker exec cp-web /bin/busybox readlink /www/loop2").stdout == "loop2\n"


def test_options_the_content_ids_and_what_the_result_shows(lab, play, api, tmp_path):
    """base64 wrapped as base64 tools wrap it, text from a file that is not UTF-8 written as its
    bytes (as ansible.builtin.copy), ids a file can have, and the content kept out of the
    result: the diff only with --diff, content no_log."""
    binary = bytes(range(256)) * 3
    wrapped = base64.encodebytes(binary).decode()
    assert wrapped.count("\n") > 5
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café crème".encode("latin-1"))
    lookup = "{{ lookup('ansible.builtin.file', '%s') }}" % latin1
    written = twice(play, tasks(
        {"container": "cp-web", "content": wrapped, "content_is_b64": True, "dest": "/www/wrapped.bin"},
        {"container": "cp-web", "content": wrapped, "content_is_b64": True, "dest": "/www/wrapped-host.bin",
         "execution": "host"},
        {"container": "cp-web", "content": lookup, "dest": "/www/latin1.txt"},
        {"container": "cp-web", "content": lookup, "dest": "/www/latin1-host.txt", "execution": "host"},
        {"container": "cp-web", "content": "x\n", "dest": "/www/uidmax", "owner_id": 4294967294,
         "group_id": 4294967294}))
    assert [r["changes"] for r in written] == [["created"]] * 5
    for dest in ("/www/wrapped.bin", "/www/wrapped-host.bin"):
        assert in_container(api, "cp-web", dest)[0] == binary
    for dest in ("/www/latin1.txt", "/www/latin1-host.txt"):
        assert in_container(api, "cp-web", dest)[0] == latin1.read_bytes()
    assert in_container(api, "cp-web", "/www/uidmax")[2:] == (4294967294, 4294967294)
    out = results_in_order(play(tasks(
        {"container": "cp-web", "content": "x\n", "dest": "/www/uid", "owner_id": 4294967295},
        {"container": "cp-web", "content": "x\n", "dest": "/www/uid", "group_id": 4294967301, "execution": "host"},
        {"container": "cp-web", "content": wrapped.replace("A", "!"), "content_is_b64": True, "dest": "/www/uid"})))
    assert [r["status"] for r in out] == ["failed"] * 3
    assert out[0]["msg"].startswith("owner_id: must be a numeric id from 0 to 4294967294"), out[0]["msg"]
    assert out[1]["msg"].startswith("group_id: must be a numeric id from 0 to 4294967294"), out[1]["msg"]
    assert out[2]["msg"].startswith("content: is not valid base64"), out[2]["msg"]
    assert in_container(api, "cp-web", "/www/uid") is None
    # the diff (it holds the content) only with --diff; content never in the invocation
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret three\n")
    items = ({"container": "cp-web", "content": "s3cret one\n", "dest": "/www/secret.txt"},
             {"container": "cp-web", "content": "s3cret two\n", "dest": "/www/secret-host.txt", "execution": "host"},
             {"container": "cp-web", "src": str(secret), "dest": "/www/secret-src.txt", "execution": "host"})
    for diff in (False, True):
        res = play(tasks(*items), check=True, diff=diff)
        on_controller, *on_host = results_in_order(res)
        for r in [on_controller] + on_host:
            assert r["status"] == "ok" and r["changed"] and ("diff" in r) == diff, r
        assert "invocation" not in on_controller
        for r in on_host:   # the module's: text content and src went as base64, no_log
            assert r["invocation"]["module_args"]["content"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", r
        assert ("s3cret" in res.stdout) == diff and ("s3cret" in json.dumps(res.records)) == diff
        for text in ("s3cret one\n", "s3cret two\n", "s3cret three\n"):
            assert base64.b64encode(text.encode()).decode() not in json.dumps(res.records)
