package tablestate

import "flag"

// update is accepted so that "go test ./detect/... -run TestRulesDoc
// -update" (which regenerates docs/rules.md and the scan goldens in
// detect/detectcmd) also runs here; this package has no golden files.
var _ = flag.Bool("update", false, "rewrite golden files (none in this package)")
