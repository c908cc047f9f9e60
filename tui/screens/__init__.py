"""Modal screens: confirmation, help and the forms the panes open."""
