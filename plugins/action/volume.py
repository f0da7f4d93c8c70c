# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.volume: the module's run (module_utils/_network_volume.py)
on the controller where it can, against the host's engine socket forwarded over the task's
SSH ControlMaster, else the module on the host (plugin_utils/_controller_read.py)."""
from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._network_volume import (
    volume_argument_spec, volume_main)
from ansible_collections.dockyard.fleet.plugins.plugin_utils._controller_read import (
    ControllerReadAction)


class ActionModule(ControllerReadAction):
    MODULE = "dockyard.fleet.volume"
    argument_spec = staticmethod(volume_argument_spec)
    main = staticmethod(volume_main)
