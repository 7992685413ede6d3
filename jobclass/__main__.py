import sys

from jobclass.cli import main

sys.exit(main())
