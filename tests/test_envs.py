"""The generative games (cfr_jax/envs) against the compiled ones."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cfr_jax
from cfr_jax import envs
from cfr_jax.games import LeducRules


@pytest.fixture(scope='module')
def leduc_game():
  return cfr_jax.load_game('leduc')


@pytest.fixture(scope='module')
def aligned_leduc(leduc_game):
  # align() walks every history: same players, legal slots, chance
  # probabilities, payoffs, and infoset codes one to one with the game's rows.
  return envs.align(envs.leduc_env(), leduc_game)


def test_leduc_env_agrees_with_compiled_game_everywhere(aligned_leduc, leduc_game):
  assert sorted(np.asarray(aligned_leduc.rows).tolist()) == list(range(leduc_game.num_infosets))


@pytest.mark.parametrize('spec,make', [
    ('kuhn', envs.kuhn_env),
    ('leduc(suits=1,ranks=4,ante=2,max_raises=1,raise_sizes=3:5)',
     lambda: envs.leduc_env(LeducRules(ranks=4, suits=1, ante=2, max_raises=1,
                                       raise_sizes=(3, 5)))),
])
def test_env_agrees_with_compiled_game_everywhere(spec, make):
  game = cfr_jax.load_game(spec)
  aligned = envs.align(make(), game)
  assert aligned.codes.shape == (game.num_infosets,)
  assert sorted(np.asarray(aligned.rows).tolist()) == list(range(game.num_infosets))


def test_tree_adapter_agrees_with_its_game():
  game = cfr_jax.load_game('kuhn')
  aligned = envs.align(envs.tree_env(game), game)
  # The adapter's ids already are the game's rows.
  np.testing.assert_array_equal(aligned.codes, aligned.rows)


def test_disagreements_are_reported(leduc_game):
  with pytest.raises(envs.Disagreement, match='action slots'):
    envs.align(envs.kuhn_env(), leduc_game)
  with pytest.raises(envs.Disagreement, match='returns'):  # another ante: other payoffs
    envs.align(envs.leduc_env(LeducRules(ante=2)), leduc_game)


def _outcome_rank(probs, outcome):
  """The k of the k-th positive-probability outcome (the compiled child's index)."""
  return jnp.sum((probs > 0) & (jnp.arange(probs.shape[0]) < outcome))


def test_random_trajectories_match_the_tree_adapter(aligned_leduc, leduc_game):
  native = aligned_leduc
  tree = envs.tree_env(leduc_game)

  def play(key):
    def body(carry, k):
      s, n = carry
      p = native.current_player(s)
      legal, probs = native.legal_mask(s), native.chance_probs(s)
      agree = jnp.stack([
          p == tree.current_player(n),
          jnp.all(legal == tree.legal_mask(n)),
          native.infoset(s) == tree.infoset(n),
          jnp.all(native.returns(s) == tree.returns(n))])
      weights = jnp.where(p == envs.CHANCE, probs, jnp.pad(legal, (0, 3)).astype(jnp.float32))
      a = envs.sample_outcome(weights, k)
      tree_a = jnp.where(p == envs.CHANCE, _outcome_rank(probs, a), a)
      live = p != envs.TERMINAL
      s = jax.tree.map(lambda x, y: jnp.where(live, x, y), native.step(s, a), s)
      n = jnp.where(live, tree.step(n, tree_a), n)
      return (s, n), agree
    (s, n), agree = jax.lax.scan(body, (native.root(), tree.root()),
                                 jax.random.split(key, native.max_depth + 1))
    return agree, native.current_player(s), native.returns(s)

  agree, last, returns = jax.jit(jax.vmap(play))(jax.random.split(jax.random.PRNGKey(0), 256))
  assert bool(jnp.all(agree))
  assert bool(jnp.all(last == envs.TERMINAL))  # max_depth is enough
  assert float(jnp.abs(returns).min()) >= 0 and float(jnp.abs(returns).max()) > 0


def test_init_samples_the_deal_and_infosets_hide_the_opponents_card():
  env = envs.leduc_env()
  s = jax.vmap(env.init)(jax.random.split(jax.random.PRNGKey(1), 64))
  assert bool(jnp.all(jax.vmap(env.current_player)(s) == 0))
  cards = np.asarray(s.cards[:, :2])
  assert (cards[:, 0] != cards[:, 1]).all() and len(set(map(tuple, cards))) > 10
  # Two deals that differ only in player 1's card: player 0's infoset is the same.
  a = env.step(env.step(env.root(), 0), 2)
  b = env.step(env.step(env.root(), 0), 3)
  assert int(env.infoset_code(a)) == int(env.infoset_code(b))
  c = env.step(env.step(env.root(), 1), 3)
  assert int(env.infoset_code(a)) != int(env.infoset_code(c))


def test_liars_dice_agrees_with_openspiel():
  pytest.importorskip('pyspiel')
  game = cfr_jax.load_game('openspiel:liars_dice(dice_sides=4)')
  aligned = envs.align(envs.liars_dice_env(1, 4), game)
  assert aligned.codes.shape == (game.num_infosets,)


def test_liars_dice_with_unequal_dice_plays_zero_sum_games():
  env = envs.liars_dice_env(dice=(1, 3), sides=5)
  assert env.num_actions == 4 * 5 + 1
  s, players, actions = jax.vmap(lambda k: envs.random_playout(env, k))(
      jax.random.split(jax.random.PRNGKey(2), 128))
  assert bool(jnp.all(jax.vmap(env.current_player)(s) == envs.TERMINAL))
  r = jax.vmap(env.returns)(s)
  assert bool(jnp.all(jnp.abs(r[:, 0]) == 1)) and bool(jnp.all(r[:, 0] == -r[:, 1]))
  assert 0 < float((r[:, 0] > 0).mean()) < 1
  # Four dice rolled first, then alternating bids; a call ends it.
  assert bool(jnp.all(players[:, :4] == envs.CHANCE))
  # Player 1's infoset: their own dice as a multiset, not the order rolled.
  roll = lambda faces: _roll(env, faces)
  a, b = roll([0, 1, 2, 3]), roll([0, 3, 1, 2])
  a, b = env.step(a, 0), env.step(b, 0)
  assert int(env.current_player(a)) == 1
  assert int(env.infoset_code(a)) == int(env.infoset_code(b))
  assert int(env.infoset_code(a)) != int(env.infoset_code(env.step(roll([0, 2, 2, 3]), 0)))


def _roll(env, faces):
  s = env.root()
  for f in faces:
    s = env.step(s, f)
  return s
