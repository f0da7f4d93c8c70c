# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.container_copy_into: src is a file on the controller (found
as ansible.builtin.copy finds it: a role's files/, the playbook's directory). The module's
run (module_utils/_copy_into.py) happens on the controller where it can, against the host's
engine socket forwarded over the task's SSH ControlMaster, reading src there; where it runs
on the host instead, src travels as its content, and text content as base64 (both no_log: not
in the module's invocation; plugin_utils/_controller_read.py). The diff is returned in diff
mode only."""
from __future__ import annotations

import base64
import os

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.dockyard.fleet.plugins.module_utils._copy_into import (
    SPEC_RULES, copy_argument_spec, copy_main)
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import run_on_controller
from ansible_collections.dockyard.fleet.plugins.plugin_utils._controller_read import (
    ControllerReadAction)


def _false(value):
    """value is left out or a boolean false (one the module would refuse is left to it)."""
    try:
        return value is None or not boolean(value, strict=True)
    except TypeError:
        return False


def _as_sent(args):
    """The options with text content as base64, as the module on the host gets them (and what
    its no_log masks)."""
    out = dict(args)
    content = args.get("content")
    if isinstance(content, str) and _false(args.get("content_is_b64")):
        # as base64: the module's no_log hides it from its result, where text as short as
        # the content would be masked wherever it appears (the diff, a message); and text
        # from bytes that are not UTF-8 (surrogate-escaped) travels as those bytes
        out.update(content=base64.b64encode(content.encode("utf-8", "surrogateescape")).decode("ascii"),
                   content_is_b64=True)
    return out


class ActionModule(ControllerReadAction):
    MODULE = "dockyard.fleet.container_copy_into"
    _decrypted = None   # the decrypted copy of a vault-encrypted src, removed after the run
    SPEC_RULES = SPEC_RULES
    argument_spec = staticmethod(copy_argument_spec)
    main = staticmethod(copy_main)

    def prepare(self, args, task_vars):
        src = args.get("src")
        if src is None or args.get("content") is not None or not isinstance(src, str):
            return None   # the module's own checks name the option
        if args.get("content_is_b64"):
            return "content_is_b64: applies to content, not to src"
        try:
            found = self._find_needle("files", src)
        except AnsibleError as exc:
            return "src: %s" % exc.message
        if os.path.isdir(found):
            return "src: %s is a directory: give a file" % found
        try:   # as ansible.builtin.copy: a vault-encrypted src is written decrypted
            args["src"] = self._loader.get_real_file(found, decrypt=True)
        except AnsibleError as exc:
            return "src: %s" % exc.message
        if args["src"] != found:
            self._decrypted = args["src"]
        return None

    def on_controller(self, args):
        diff = bool(self._task.diff)
        return run_on_controller(self, args, self.argument_spec(),
                                 lambda module, client: copy_main(module, client, diff=diff), **self.SPEC_RULES)

    def run(self, tmp=None, task_vars=None):
        self._decrypted = None
        try:
            return super().run(tmp, task_vars)
        finally:
            if self._decrypted:
                self._loader.cleanup_tmp_file(self._decrypted)

    def validation_args(self, args):
        return _as_sent(args)

    def host_args(self, args):
        out = _as_sent(args)
        content = args.get("content")
        if out.get("src") is None or content is not None:
            return out
        src = out.pop("src")
        try:
            with open(src, "rb") as handle:
                out["content"] = base64.b64encode(handle.read()).decode("ascii")
            if out.get("mode") == "preserve":
                out["mode"] = "%04o" % (os.stat(src).st_mode & 0o7777)
        except OSError as exc:
            raise AnsibleError("src: cannot read %s: %s" % (src, exc.strerror or exc)) from exc
        out["content_is_b64"] = True
        return out
