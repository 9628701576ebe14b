"""`python -m plebconf.cli`: the plebconf command."""
from . import main

main()
