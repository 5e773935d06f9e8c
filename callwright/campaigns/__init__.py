"""Campaigns: lists of contacts called by an assistant with pacing, windows and retries."""
