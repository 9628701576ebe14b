"""`python -m plebconf`: the plebconf command."""
from .cli import main

main()
