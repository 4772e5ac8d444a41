import sys

from cible.loader.cli import main

sys.exit(main())
