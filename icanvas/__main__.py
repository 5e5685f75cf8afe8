"""`python -m icanvas` (and `torchrun -m icanvas`) runs the command-line tool."""

from icanvas.cli.app import main

if __name__ == "__main__":
    main()
