"""Everything that talks to HAProxy. Imports nothing from the UI."""
