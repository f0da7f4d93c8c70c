# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.container_info: the module's run (module_utils/
_container_info.py) on the controller where it can, else the module on the host
(plugin_utils/_controller_read.py)."""
from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._container_info import (
    REQUIRED_ONE_OF, container_info_argument_spec, container_info_main)
from ansible_collections.dockyard.fleet.plugins.plugin_utils._controller_read import (
    ControllerReadAction)


class ActionModule(ControllerReadAction):
    MODULE = "dockyard.fleet.container_info"
    SPEC_RULES = {"required_one_of": REQUIRED_ONE_OF}
    argument_spec = staticmethod(container_info_argument_spec)
    main = staticmethod(container_info_main)
