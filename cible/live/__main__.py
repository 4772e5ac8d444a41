"""`python -m cible.live ...` is `cible live ...` (the processes the services module starts)."""

from cible.live.cli import main

raise SystemExit(main())
