"""plebnet: the user-level network stack process: its state model (state/), control
vocabulary (syscalls/), control server, data plane (dataplane/) and durability (persist)."""
