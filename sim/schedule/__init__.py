"""The schedule: every unit's dates and states with all events applied, and its checks."""
