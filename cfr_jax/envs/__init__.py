"""Generative games: pure, jittable, vmappable functions (see `core.Env`).

    env = envs.leduc_env()                      # or kuhn_env(), liars_dice_env(dice, sides)
    s = env.init(key)                           # the deal sampled
    env.current_player(s), env.legal_mask(s), env.infoset(s)
    s = env.step(s, 1)
    aligned = envs.align(env, cfr_jax.load_game('leduc'))   # infoset ids = game rows
    envs.tree_env(game)                         # any compiled game as an env
    envs.load_env('liars_dice(dice=2,sides=6)') # by name (the launcher's game='env:...')
    envs.head_to_head(env, policy_a, policy_b, key)   # (mean, stderr) by sampled play
"""
from cfr_jax.envs.align import Aligned, Disagreement, align, infoset_observations
from cfr_jax.envs.core import CHANCE, TERMINAL, Env, random_playout, sample_chance, sample_outcome
from cfr_jax.envs.liars_dice import LiarsDice, liars_dice_env
from cfr_jax.envs.play import UNIFORM, head_to_head, uniform
from cfr_jax.envs.poker import Kuhn, Leduc, kuhn_env, leduc_env
from cfr_jax.envs.registry import ENV_PREFIX, load_env
from cfr_jax.envs.tree import TreeArrays, TreeEnv, tree_arrays, tree_env

__all__ = ['Aligned', 'CHANCE', 'Disagreement', 'ENV_PREFIX', 'Env', 'Kuhn', 'Leduc', 'LiarsDice',
           'TERMINAL', 'TreeArrays', 'TreeEnv', 'UNIFORM', 'align', 'head_to_head',
           'infoset_observations', 'kuhn_env', 'leduc_env', 'liars_dice_env', 'load_env',
           'random_playout', 'sample_chance', 'sample_outcome', 'tree_arrays', 'tree_env',
           'uniform']
