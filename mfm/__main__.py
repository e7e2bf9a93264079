"""`python -m mfm`: see mfm.cli."""

from mfm.cli import main

raise SystemExit(main())
