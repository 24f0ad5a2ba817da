"""Provides the TUI's screens: prompts (home), prompt workspace, history, compare, export and help."""
