"""Hold'em: cards, ranges, card removal, hand strength, and subgames to solve."""
from cfr_jax.holdem.cards import (HANDS, NUM_HANDS, blocked_by, card_text, hand_index,
                                  hand_strength, hand_text, hands_conflict, parse_card,
                                  parse_cards, parse_range)
from cfr_jax.holdem.subgame import Subgame, SubgameSpec, compile_subgame

__all__ = ['HANDS', 'NUM_HANDS', 'blocked_by', 'card_text', 'hand_index', 'hand_strength',
           'hand_text', 'hands_conflict', 'parse_card', 'parse_cards', 'parse_range',
           'Subgame', 'SubgameSpec', 'compile_subgame']
