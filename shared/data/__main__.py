from shared.data.prepare import main

raise SystemExit(main())
