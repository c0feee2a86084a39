from trialkit.cli import main

raise SystemExit(main())
