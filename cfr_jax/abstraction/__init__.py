"""Card abstraction: hand -> bucket maps per public board, and their fingerprint."""
from cfr_jax.abstraction.buckets import (METHODS, BucketSettings, BucketTable, bucket_hands,
                                         build_table, hand_equity, kmeans, suit_symmetries)

__all__ = ['METHODS', 'BucketSettings', 'BucketTable', 'bucket_hands', 'build_table',
           'hand_equity', 'kmeans', 'suit_symmetries']
