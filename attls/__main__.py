import sys

from attls.cli import main

sys.exit(main())
