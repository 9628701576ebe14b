"""The data plane: packets through the configured state.  wire/ (pure codecs), the interface and
IP layers (iface, ip, ip6, nd6, frag6, reassembly, ping), phy/ (devices), plane (wiring)."""
