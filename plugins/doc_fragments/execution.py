# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Option execution of the engine modules whose action plugin runs them from the controller
    # (plugin_utils/_controller_read.py): container_info, host_info, prune, network, volume.
    DOCUMENTATION = r"""
options:
  execution:
    description:
      - Where the run happens, as for O(dockyard.fleet.service#module:execution). V(auto) (the
        default) works with the engine from the controller through the host's engine socket,
        forwarded over the task's SSH ControlMaster, with no module run on the host, where it
        can (ssh connection with ControlPersist, a local unix O(docker_host) without TLS, no
        C(DOCKER_*) in the task's environment, no async, no become to a non-root user), and
        runs the module on the host otherwise, saying why in RV(execution_reason).
      - V(controller) fails, naming this option, where V(auto) would go to the host;
        V(host) always runs the module.
    type: str
    default: auto
    choices: [auto, controller, host]
"""
