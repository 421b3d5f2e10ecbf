"""``python -m wmark`` runs the command line."""

from wmark.cli import main

if __name__ == "__main__":
    main()
