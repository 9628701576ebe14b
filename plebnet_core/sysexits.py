"""sysexits(3) statuses of a failed start, one per kind of failure (README.md lists them)."""

EX_USAGE = 64       # the command line: an unknown option, a malformed --nic/--pcap value
EX_DATAERR = 65     # rc.conf (or restored state) that does not apply
EX_NOINPUT = 66     # an rc.conf file that cannot be read
EX_NOUSER = 67      # --read-group names no group
EX_OSERR = 71       # a NIC's device (tap, vxlan socket) cannot be opened
EX_CANTCREAT = 73   # the socket directory or the socket itself cannot be used
EX_IOERR = 74       # the --state directory cannot be used
