"""The console's tabs: dashboard, server, backends, cache and rclone."""
