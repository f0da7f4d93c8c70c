# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.deploy_facts: runs on the controller only (no module run,
no connection). See plugins/modules/deploy_facts.py for the documentation."""
from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.dockyard.fleet.plugins.filter.roll_in_one_run import roll_in_one_run
from ansible_collections.dockyard.fleet.plugins.module_utils import _deploy_facts


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        if self._task.args:
            result.update(failed=True, changed=False,
                          msg="dockyard.fleet.deploy_facts takes no options (it reads the host's deploy_* "
                              "variables), got: %s" % ", ".join(sorted(self._task.args)))
            return result
        values = {}
        for name in _deploy_facts.VARIABLES + _deploy_facts.PRIVATE:
            if name not in task_vars:
                continue
            try:
                values[name] = self._templar.template(task_vars[name])
            except AnsibleError as exc:
                result.update(failed=True, changed=False, msg="%s could not be templated: %s" % (name, exc))
                return result
        problems = _deploy_facts.problems(values)
        if problems:
            result.update(failed=True, changed=False, msg="; ".join(problems), problems=problems)
            return result
        facts = _deploy_facts.derive(values, task_vars.get("groups"))
        host = task_vars.get("inventory_hostname")
        try:
            facts["deploy__one_run"] = roll_in_one_run(host, task_vars["hostvars"], facts["deploy__lbs"],
                                                       values.get("deploy_roll_mode"))
        except AnsibleError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        result.update(changed=False, facts=facts)
        return result
