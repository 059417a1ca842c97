"""``python -m webkit_cli`` runs the same CLI as the ``webkit`` script."""

from webkit_cli.cli import main

if __name__ == "__main__":
    main(prog_name="webkit")
