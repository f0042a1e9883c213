"""``python -m minimm`` runs the command line (its help when no command is given)."""

import sys

from .app.cli import main

sys.exit(main())
