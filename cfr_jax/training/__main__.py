"""Entry of one instance process started by `instances.run_instances`."""
import sys

from cfr_jax.training.instances import _instance_main
from cfr_jax.training.signals import exit_process

exit_process(_instance_main(sys.argv[1:]))
