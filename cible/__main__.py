"""`python -m cible`: the same as the `cible` command."""

from cible.cli import main

raise SystemExit(main())
