"""What the stack (plebnet_core) and the tools (plebconf) share, and nothing else: the control
protocol's framing and op names (protocol), the kernel's constants and errno texts (constants),
and the kinds of interface with their cloners (iftypes).  It imports neither side."""
