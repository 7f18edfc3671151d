import sys

from hnet_cli.cli import main

sys.exit(main())
