"""The training configs shipped with cfr_jax, and what each field means.

Each module here has a `get_config()` returning an `ml_collections.ConfigDict`;
`leduc` is the default and the others override it. The launcher (`cfr-train`,
`python -m launch.train`) takes one by short name (`--config=holdem_turn`) or
by path (`--config=configs/kuhn.py`, `--config=my_config.py`).
`FIELD_HELP` is the one-line meaning of every field, printed by
`cfr-train --help`; a test checks that it covers every shipped config.
"""
from __future__ import annotations

import os

DEFAULT = 'leduc'

FIELD_HELP = {
    'game': "cfr_jax.load_game spec (kuhn, leduc, leduc(ranks=13), openspiel:<name>), "
            "'holdem' (then config.holdem describes the subgame), or env:<name> (a "
            "generative game that is never compiled, e.g. env:liars_dice(dice=2,sides=6); "
            "deep-cfr only)",
    'algorithm': ('cfr, cfr+, linear_cfr, dcfr, dcfr+, pcfr+, pdcfr+ or sapcfr+; scheduled: '
                  'hs_dcfr, hs_pcfr+, hs_pdcfr+, postflop_dcfr; sampled: es-mccfr, os-mccfr; '
                  'neural: deep-cfr'),
    'batch_size': ('es-mccfr, os-mccfr: sampled trajectories per player per iteration; '
                   'deep-cfr: samples per Adam step'),
    'hidden': 'deep-cfr: hidden layer widths of its networks (e.g. 64,64)',
    'traversals': ('deep-cfr: traversals per player and iteration (external sampling; on '
                   'env: games, sampled trajectories)'),
    'epsilon': "deep-cfr on env: games: the traverser's exploration in its sampled traversals",
    'eval_games': 'deep-cfr on env: games: games of each head-to-head evaluation',
    'advantage_steps': "deep-cfr: Adam steps of a player's advantage network per iteration",
    'policy_steps': 'deep-cfr: Adam steps of the average-strategy network per iteration',
    'advantage_memory': "deep-cfr: samples in each player's advantage reservoir",
    'policy_memory': "deep-cfr: samples in the average strategy's reservoir",
    'learning_rate': 'deep-cfr: Adam learning rate (cosine-decayed for advantage networks)',
    'reinitialize': 'deep-cfr: advantage networks from fresh parameters every iteration',
    'exploration': ("os-mccfr: the exploration (epsilon) of the sampling player's policy, in "
                    '(0, 1]; None: 0.6'),
    'weighting': ("es-mccfr, os-mccfr: 'uniform', 'linear' (Pluribus) or 'discounted' "
                  "(DCFR's alpha, beta, gamma)"),
    'alpha': "algorithm hyperparameter (dcfr, dcfr+, pdcfr+); None keeps the algorithm's default",
    'beta': "algorithm hyperparameter (dcfr); None keeps the algorithm's default",
    'gamma': "exponent of the average-strategy weights; None keeps the algorithm's default",
    'prediction': "sapcfr+: the prediction's step, 1 / (1 + asymmetry); None: 1/3 (1 is pcfr+)",
    'horizon': 'HS schedules: the iterations the schedule is planned for (None: 1000)',
    'alternating': 'alternating (true) or simultaneous (false) updates',
    'dtype': 'float32 or float64',
    'storage': "'' (the dtype) or bfloat16: half the state's memory, slower convergence",
    'compensated': "keep the average strategy's low-order sum (None: tree games yes, "
                   'hold\'em subgames no)',
    'subtrees': "hold'em subgames: cards dealt per batch of the half steps' subtree passes "
                '(less memory; None: automatic, 0: whole levels)',
    'max_iterations': 'the run is complete after this many iterations',
    'time_budget_minutes': 'or after this many minutes of training, summed over restarts',
    'target_exploitability': 'or at the first evaluation whose exploitability is at or '
                             'below this many chips (0: off)',
    'target_pot_percent': "hold'em: or at the first evaluation whose exploitability is at or "
                          'below this percentage of the pot (0: off)',
    'chunk_iterations': 'a chunk (then save, progress, rebuild) ends after this many '
                        'iterations ...',
    'chunk_minutes': '... or after this many minutes',
    'eval_every': 'exact exploitability every N iterations (and at the end)',
    'progress_seconds': 'longest time between progress.json updates',
    'compilation_cache': "where compiled programs are kept for later runs ('': "
                         "~/.cache/cfr_jax/xla, 'none': off)",
    'extra_locations': 'comma-separated read-only checkpoint directories searched on restore',
    'mirror_to': 'a directory every save is copied to',
    'keep_checkpoints': 'checkpoints kept in <workdir>/checkpoints',
    'num_instances': 'N independent instances, each in <workdir>/instance_<k>',
    'seed': ('0 ... 2**32 - 1, recorded per instance (seed + k); exact CFR draws no randomness, '
             'es-mccfr, os-mccfr and deep-cfr seed their PRNG key with it'),
    'sweep_field': 'a config field the instances sweep over (e.g. algorithm)',
    'sweep_values': ('its comma-separated values, one instance each (e.g. cfr+,dcfr,pcfr+); '
                     "for hidden, ';' between values: 64;64,64"),
    'instances_mode': "'process' (one process per instance) or 'vmap' (one vmapped program)",
    'devices': 'devices the state is sharded over (0: every device)',
    'distributed.enabled': 'one run across the processes of a jax.distributed job',
    'distributed.coordinator_address': "host:port of process 0 ('': from the environment)",
    'distributed.num_processes': 'processes in the job (0: from the environment)',
    'distributed.process_id': "this process's index (-1: from the environment)",
    'distributed.local_device_ids': "comma-separated local devices ('': all of them)",
    'holdem.board': '3, 4 or 5 cards (e.g. "Ks 9s 8h 3d"): a flop, turn or river subgame',
    'holdem.pot': 'chips in the pot; each player put in half',
    'holdem.stack': 'effective stack behind, in chips',
    'holdem.range0': 'the range of the player who acts first (e.g. "22+,A2s+,KTo+")',
    'holdem.range1': 'the other range (weights as "T9s:0.5")',
    'holdem.bet_sizes': 'bets as fractions of the pot, "0.5,1" (or "50%,100%") for every '
                        'street or "0.33,0.75;0.5,1;1" per street; all-in is always available',
    'holdem.raise_sizes': 'raises as fractions of the pot after calling, like bet_sizes',
    'holdem.max_raises': 'raises per street',
    'holdem.isomorphism': 'deal one card per class of interchangeable suits where the board '
                          'and ranges allow (same values, smaller tree); false deals every card',
    'holdem.rake_rate': 'rake as a fraction of each pot won, e.g. 0.05 (0: none; the '
                        'winner pays it, a tie splits it)',
    'holdem.rake_cap': 'most rake taken from one pot, in chips (0: no cap)',
    'holdem.buckets.method': "card abstraction: '' (none), iso, ehs or hist",
    'holdem.buckets.num_buckets': 'buckets per street (ehs, hist)',
    'holdem.buckets.histogram_bins': 'hand-strength histogram bins (hist)',
    'holdem.buckets.seed': 'k-means seed',
    'holdem.buckets.kmeans_iterations': 'k-means iterations',
}


def names() -> list[str]:
  """The shipped configs' short names, sorted."""
  here = os.path.dirname(os.path.abspath(__file__))
  return sorted(f[:-3] for f in os.listdir(here)
                if f.endswith('.py') and not f.startswith('_'))


def path(name: str) -> str:
  """The file of shipped config `name` (e.g. 'leduc')."""
  return os.path.join(os.path.dirname(os.path.abspath(__file__)), f'{name}.py')
