"""Everything that talks to the outside world: engines, servers and media tools."""
