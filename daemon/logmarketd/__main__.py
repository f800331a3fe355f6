import sys

from logmarketd.main import main

sys.exit(main())
