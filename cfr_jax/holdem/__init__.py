"""Hold'em building blocks: cards, ranges, card removal and hand strength."""
from cfr_jax.holdem.cards import (HANDS, NUM_HANDS, blocked_by, card_text, hand_index,
                                  hand_strength, hand_text, hands_conflict, parse_card,
                                  parse_cards, parse_range)

__all__ = ['HANDS', 'NUM_HANDS', 'blocked_by', 'card_text', 'hand_index', 'hand_strength',
           'hand_text', 'hands_conflict', 'parse_card', 'parse_cards', 'parse_range']
