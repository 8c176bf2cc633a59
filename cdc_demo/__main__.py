"""`python -m cdc_demo`: see cdc_demo/demo.py."""

from .demo import main

raise SystemExit(main())
