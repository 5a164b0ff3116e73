import sys

from initscope.cli import main

sys.exit(main())
