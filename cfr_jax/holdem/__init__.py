"""Hold'em: cards, ranges, card removal, hand strength, and subgames to solve.

The names below are imported on first use (PEP 562), as `cfr_jax`'s are:
`cfr_jax.holdem.lines` (what `cfr-query` reads a betting line with) loads
without the subgame module and JAX, so `cfr-query --help` answers at once.
"""
from cfr_jax import lazy

_API = {  # name: the module of cfr_jax.holdem that defines it
    **dict.fromkeys(('HANDS', 'NUM_HANDS', 'blocked_by', 'card_text', 'hand_index',
                     'hand_strength', 'hand_text', 'hands_conflict', 'parse_card',
                     'parse_cards', 'parse_range'), 'cards'),
    **dict.fromkeys(('Subgame', 'SubgameSpec', 'compile_subgame'), 'subgame')}
__all__ = list(_API)

__getattr__, __dir__ = lazy.exports(__name__, _API)
