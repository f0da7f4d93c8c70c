# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.image.

For source=load the archive lives on the controller. It is read here (manifest and image
config only) to learn the image ID and tags; the module is run once to ask the host whether
that image is there. Only if it is missing is the archive copied to a temporary directory on
the host and the module run a second time to load it; the temporary directory is removed.
Every other task is passed to the module unchanged (one run). Before any run, the dict
options with suboptions (build) are checked here: ansible-core's own message for a list there
does not name the option.
"""
from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.dockyard.fleet.plugins.module_utils._image import (
    IMAGE_ARGS, ImageInputError, archive_image_for, check_dict_options, parse_reference,
    read_archive)

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
            ref = parse_reference(args.get("name"), "name")
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
        res = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
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
        res.update(shipped=True, invocations=2, archive_size=archive["size"])
        result.update(res)
        return result
