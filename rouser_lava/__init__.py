"""rouser-lava."""
