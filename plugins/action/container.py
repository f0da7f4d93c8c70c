# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.container: the module's run (module_utils/_container.py)
on the controller where it can, against the host's engine socket forwarded over the task's
SSH ControlMaster, else the module on the host (plugin_utils/_controller_read.py). env_file
(a file on the host) and a pull (the registry credentials of the host's user: found before
any change) keep the run on the host."""
from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._container import (
    container_argument_spec, container_main, needs_the_host)
from ansible_collections.dockyard.fleet.plugins.plugin_utils._controller_read import (
    ControllerReadAction)


class ActionModule(ControllerReadAction):
    MODULE = "dockyard.fleet.container"
    argument_spec = staticmethod(container_argument_spec)
    main = staticmethod(container_main)

    def on_controller(self, args):
        why = needs_the_host(args)
        if why is not None:
            return None, why
        return super().on_controller(args)
