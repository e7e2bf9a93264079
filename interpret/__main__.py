"""`python -m interpret`: see interpret.cli."""

from interpret.cli import main

raise SystemExit(main())
