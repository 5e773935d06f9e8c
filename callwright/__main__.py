from callwright.cli import main

raise SystemExit(main())
