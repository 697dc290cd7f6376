"""The policy imgaudit applies: every setting declared once (`settings`), found (`discover`),
read and checked (`read`), layered defaults < file < command line (`load`), written back as
TOML (`write`)."""

from auditor.config.discover import PolicyFile, find_policy_file
from auditor.config.load import COMMAND_LINE, DEFAULT, EffectivePolicy, load_policy
from auditor.config.read import read_option
from auditor.config.write import dump_policy

__all__ = [
    "COMMAND_LINE",
    "DEFAULT",
    "EffectivePolicy",
    "PolicyFile",
    "dump_policy",
    "find_policy_file",
    "load_policy",
    "read_option",
]
