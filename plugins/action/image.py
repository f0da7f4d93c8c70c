# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.image.

For source=load the archive lives on the controller. It is read here (manifest and image
config only) to learn the image ID and tags. Then, with ship=stream (and auto, when the
connection allows it), the host's engine socket is forwarded to the controller over the
task's SSH ControlMaster (as socket_forward does for HAProxy's runtime API) and the module's
own logic (ImageManager) runs here against it: the host is asked whether the image is there
and, only if it is missing, the archive is streamed into `docker load` through the forward.
No module run, no copy on the host's disk; the forward is cancelled at the end.
With ship=copy (and auto, when streaming is not possible) the module is run once to ask the
host; only if the image is missing is the archive copied to a temporary directory on the
host and the module run a second time to load it; the temporary directory is removed.
Every other task is passed to the module unchanged (one run). Before any run, the dict
options with suboptions (build) are checked here: ansible-core's own message for a list there
does not name the option.
"""
from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import (
    blocker, cancel, engine_over_forward, engine_socket, environment_of, validated)
from ansible_collections.dockyard.fleet.plugins.module_utils._image import (
    IMAGE_ARGS, ImageInputError, ImageManager, archive_image_for, check_dict_options, load_name,
    read_archive, validate_params)

MODULE = "dockyard.fleet.image"


class ActionModule(ActionBase):
    # False on purpose: with True, ActionBase.run() makes a remote temporary directory on
    # every run (and the module run removes it), two more SSH round trips for the usual case
    # where the host already has the image. The directory is made below only to ship.
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        try:
            # before the module: ansible-core's own message for these does not name the option
            check_dict_options(IMAGE_ARGS, args)
        except ImageInputError as exc:
            result.update(failed=True, changed=False, msg=str(exc), invocations=0)
            return result
        # options that do not validate fail here, as the module would, without a module run
        _params, failure = validated(MODULE, args, docker_common_args(**IMAGE_ARGS))
        if failure is not None:
            result.update(failure, invocations=0)
            return result
        if args.get("source") != "load" or args.get("state", "present") == "absent":
            res = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
            res["invocations"] = 1
            result.update(res)
            return result

        try:
            if args.get("_archive"):
                raise ImageInputError("_archive: internal option, set by the action plugin only")
            if not args.get("load_path"):
                raise ImageInputError("load_path: required with source=load (a docker-save "
                                      "archive on the controller)")
            ref = load_name(args.get("name"))
            try:
                local = self._find_needle("files", args["load_path"])
            except AnsibleError as exc:
                raise ImageInputError("load_path: archive %s not found on the controller: %s"
                                      % (args["load_path"], exc)) from exc
            archive = read_archive(local)
            image = archive_image_for(archive, ref["ref"])
        except ImageInputError as exc:
            result.update(failed=True, changed=False, msg=str(exc), shipped=False, invocations=0)
            return result

        args.pop("load_path")
        args["_archive"] = dict(id=image["id"], tags=image["tags"], path=None,
                                archive=os.path.basename(local))
        ship = args.get("ship", "auto")
        why = None
        if ship != "copy":
            res, why = self._stream(args, local, archive)
            if res is not None:
                result.update(res)
                return result
            if ship == "stream":
                result.update(failed=True, changed=False, shipped=False, invocations=0,
                              msg="ship: cannot stream the archive to the host's engine: %s "
                                  "(ship=auto copies it instead)" % why)
                return result

        res = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        res["ship"] = "copy"
        if why:
            res["ship_reason"] = why
        if res.get("failed") or not res.get("needs_archive"):
            res.pop("needs_archive", None)
            res.update(shipped=False, invocations=1)
            result.update(res)
            return result

        # The host lacks the image: copy the archive, load it, clean up.
        tmpdir = self._make_tmp_path()
        try:
            remote = self._connection._shell.join_path(tmpdir, "dockyard-image-%s.tar"
                                                       % image["id"][7:19])
            self._transfer_file(local, remote)
            self._fixup_perms2((tmpdir, remote))
            args["_archive"]["path"] = remote
            res = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        finally:
            self._remove_tmp_path(tmpdir, force=True)
        res.pop("needs_archive", None)
        res.update(shipped=True, invocations=2, archive_size=archive["size"], ship="copy")
        if why:
            res["ship_reason"] = why
        result.update(res)
        return result

    def _stream(self, args, local, archive):
        """ship=stream: the module's logic, run here against the host's engine socket
        forwarded over the SSH connection. Returns (result, None), or (None, why not) when
        streaming is not possible (nothing was changed then)."""
        if ship_blocker := blocker(self):
            return None, ship_blocker
        # the module's own checks, here: the same messages, without a module run
        params, failure = validated(MODULE, args, docker_common_args(**IMAGE_ARGS))
        try:
            if failure is not None:
                raise ImageInputError(failure["msg"])
            validate_params(params)
        except ImageInputError as exc:
            return dict(failed=True, changed=False, msg=str(exc), shipped=False, invocations=0), None
        sock, why = engine_socket(params, environment_of(self))
        if sock is None:
            return None, why
        check = bool(self._task.check_mode)
        try:
            client, why = engine_over_forward(self, params, sock)
            if client is None:
                return None, why
            # check mode never loads: without a path the manager only predicts
            params["_archive"] = dict(params["_archive"], path=None if check else local)
            manager = ImageManager(client, params, check)
            try:
                res = manager.run()
            except (DockerError, ImageInputError) as exc:
                # what was done before the failure (tags, the load) is reported as such
                res = dict(failed=True, msg=str(exc), shipped=manager.shipped, invocations=0,
                           ship="stream", **manager.partial())
                if manager.shipped:
                    res["archive_size"] = archive["size"]
                return res, None
        finally:
            cancel(self, sock)
        res.update(shipped=manager.shipped, invocations=0, ship="stream")
        if manager.warnings:
            res["warnings"] = list(manager.warnings)
        if manager.shipped:
            res["archive_size"] = archive["size"]
        return res, None
