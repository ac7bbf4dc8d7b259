package detectcmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/detect"
)

// Rules runs "rules [--format table|markdown|json]".
func Rules(ctx context.Context, args []string, _ envconfig.Lookuper, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("rules", flag.ContinueOnError)
	fl.SetOutput(stderr)
	format := fl.String("format", "table", "output format: table, markdown or json")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: xelwatch rules [--format table|markdown|json]\n\nPrints the detection catalog.\n\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return exitUsage
	}
	var err error
	switch *format {
	case "table":
		err = writeTable(stdout)
	case "markdown":
		_, err = io.WriteString(stdout, Markdown())
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(detect.Catalog())
	default:
		fmt.Fprintf(stderr, "rules: unknown --format %q (want table, markdown or json)\n", *format)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "rules: write: %v\n", err)
		return exitError
	}
	return exitOK
}

func writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tATT&CK\tPHASE\tTITLE\tACTION GROUPS")
	for _, r := range detect.Catalog() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Severity, r.Technique, r.Phase, r.Title, strings.Join(r.Groups, ", "))
	}
	return tw.Flush()
}

// Markdown renders the catalog as docs/rules.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Detection rules\n\n")
	b.WriteString("<!-- Generated from the detect catalog by `xelwatch rules --format markdown`;\n")
	b.WriteString("     regenerate with `go test ./handler/internal/detectcmd -run TestRulesDoc -update`. Do not edit. -->\n\n")
	b.WriteString("Each rule reads normalized audit records (action and class codes trimmed and upper-cased,\n")
	b.WriteString("statements lexed without comments and identifier quotes). A rule only sees records of the audit\n")
	b.WriteString("action groups listed for it: add them to the server or database audit specification.\n")
	b.WriteString("Severities are before configuration overrides (`XELWATCH_SEVERITY_OVERRIDES`, rules file). ")
	b.WriteString("From the least: informational, low, medium, high, critical. Informational findings are recorded, queryable and shown by `scan`, ")
	b.WriteString("but sent only when `XELWATCH_NOTIFY_MIN_SEVERITY` is `informational` (the default, `low`, sends the others).\n\n")
	b.WriteString("| ID | Title | Severity | ATT&CK | Phase | Action groups | Actions |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	cat := detect.Catalog()
	for _, r := range cat {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | [%s](https://attack.mitre.org/techniques/%s/) | %d | %s | %s |\n",
			r.ID, strings.ToLower(r.ID), r.Title, r.Severity, r.Technique, strings.ReplaceAll(r.Technique, ".", "/"), r.Phase,
			strings.Join(r.Groups, ", "), strings.Join(r.Actions, ", "))
	}
	b.WriteString("\n## Allow-lists and suppression\n\n")
	b.WriteString("- **Destination allow-list** (`XELWATCH_ALLOWED_BACKUP_DESTINATIONS`): URL prefixes (matched at a `/` boundary),\n")
	b.WriteString("  storage account names or hosts, path prefixes (`\\\\` and `/` equivalent, no `..`), backup device names.\n")
	b.WriteString("- **Actor allow-list**: a principal in `XELWATCH_ALLOWED_PRINCIPALS`, and, when configured, an application in\n")
	b.WriteString("  `XELWATCH_ALLOWED_APPLICATIONS` and a client IP in `XELWATCH_ALLOWED_CLIENT_IPS`. Rules marked *actor* are\n")
	b.WriteString("  silent for allow-listed actors; per-rule lists in the rules file extend this to any rule.\n")
	b.WriteString("- **Maintenance windows** (`XELWATCH_MAINTENANCE_WINDOWS`, e.g. `Sat 01:00-05:00 UTC`): rules marked *maintenance*\n")
	b.WriteString("  are silent inside a window for allow-listed principals (any principal when no principal list is set).\n")
	b.WriteString("- **Windowed** rules keep event-time state (`DetectionState` table in Azure, memory in the CLI) and report once\n")
	b.WriteString("  per source and window. Within a file, a record sees only what the records before it left in the state, so\n")
	b.WriteString("  a file read again after an interruption (storage down, a crash) gives the detections, and detection ids,\n")
	b.WriteString("  of an uninterrupted read. AUD-006 and the EXF-005 correlation are keyed on the backup record, so their id\n")
	b.WriteString("  does not depend on which record of a pair is read first.\n\n")
	for _, r := range cat {
		fmt.Fprintf(&b, "## %s\n\n**%s** — %s, ATT&CK %s, phase %d", r.ID, r.Title, r.Severity, r.Technique, r.Phase)
		var flags []string
		if r.ActorAllowList {
			flags = append(flags, "actor")
		}
		if r.Maintenance {
			flags = append(flags, "maintenance")
		}
		if r.Windowed {
			flags = append(flags, "windowed")
		}
		if len(flags) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(flags, ", "))
		}
		fmt.Fprintf(&b, "\n\n%s.\n\nAction groups: %s. Action ids: %s.\n\n", r.Condition, strings.Join(r.Groups, ", "), strings.Join(r.Actions, ", "))
	}
	return b.String()
}
