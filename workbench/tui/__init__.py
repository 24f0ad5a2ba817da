"""Provides the Textual TUI: a front end over the core, with no model call, statistic or SQL of its own."""
