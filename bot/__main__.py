import sys

try:
    from bot.cli import main
except KeyboardInterrupt:  # Ctrl-C while kpibot is still being imported: stopped, quietly
    sys.exit(130)

sys.exit(main())
