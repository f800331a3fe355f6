"""Records to logs: windows over the inbox, template mining."""
