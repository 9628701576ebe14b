"""`python -m plebnet_core`: the plebnet stack process."""
from .main import main

main()
