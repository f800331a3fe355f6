"""Findings to money and points: pricing, the ledger, the game, events and webhooks."""
