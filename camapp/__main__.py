import sys

from camapp.cli import main

sys.exit(main())
