"""plebconf: FreeBSD's network tools (cli/), rc.conf (rc/) and the control-socket client (rpc/)
against a running plebnet stack.  Never imports the stack: see docs/architecture.md."""
