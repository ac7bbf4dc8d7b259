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
func Rules(ctx context.Context, args []string, env envconfig.Lookuper, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("rules", flag.ContinueOnError)
	fl.SetOutput(stderr)
	format := fl.String("format", "table", "output format: table, markdown or json")
	sigmaRules := fl.String("sigma", "", "Sigma rule files and folders, comma-separated (default: $XELWATCH_SIGMA_RULES)")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: xelwatch rules [--format table|markdown|json] [--sigma PATHS]\n\n"+
			"Prints the detection catalog, and the Sigma rules loaded from --sigma or\n"+
			"XELWATCH_SIGMA_RULES when set (table and json; markdown is the catalog only).\n\n")
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
	if *format != "table" && *format != "markdown" && *format != "json" {
		fmt.Fprintf(stderr, "rules: unknown --format %q (want table, markdown or json)\n", *format)
		return exitUsage
	}
	var sig []detect.RuleInfo
	if *format != "markdown" {
		rs, err := loadSigma(ctx, *sigmaRules, env, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "rules: %v\n", err)
			return exitUsage
		}
		if rs != nil {
			for _, r := range rs.Rules {
				sig = append(sig, r.Info)
			}
		}
	}
	var err error
	switch *format {
	case "table":
		err = writeTable(stdout, sig)
	case "markdown":
		_, err = io.WriteString(stdout, Markdown())
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(append(append(allRules(), detect.PlatformCatalog()...), sig...))
	}
	if err != nil {
		fmt.Fprintf(stderr, "rules: write: %v\n", err)
		return exitError
	}
	return exitOK
}

// writeTable prints the catalog, then the Sigma rules (sig) with the
// file each came from.
func writeTable(w io.Writer, sig []detect.RuleInfo) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tATT&CK\tPHASE\tTITLE\tACTION GROUPS")
	for _, r := range allRules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Severity, r.Technique, r.Phase, r.Title, strings.Join(r.Groups, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nPlatform rules (Azure events, function AuditControl):")
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tATT&CK\tPHASE\tTITLE\tEVENT TYPES\tROLES")
	for _, r := range detect.PlatformCatalog() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Severity, r.Technique, r.Phase, r.Title, shortTypes(r.EventTypes), strings.Join(r.Roles, "; "))
	}
	if err := tw.Flush(); err != nil || len(sig) == 0 {
		return err
	}
	fmt.Fprintf(w, "\nSigma rules (%d):\n", len(sig))
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tATT&CK\tTITLE\tSOURCE")
	for _, r := range sig {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Severity, r.Technique, oneLine(r.Title, 80), oneLine(strings.TrimPrefix(r.Condition, "Sigma rule "), 80))
	}
	return tw.Flush()
}

// allRules is the record catalog followed by the storage rules, which
// ingestion and the sweep raise from what they see of the audit storage.
func allRules() []detect.RuleInfo {
	return append(detect.Catalog(), detect.StorageRules...)
}

// shortTypes abbreviates the six Resource Manager event types.
func shortTypes(ts []string) string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = strings.TrimPrefix(strings.TrimPrefix(t, "Microsoft.Resources."), "Microsoft.Storage.")
	}
	return strings.Join(out, ", ")
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
	b.WriteString("but sent only when `XELWATCH_NOTIFY_MIN_SEVERITY` is `informational` (the default, `low`, sends the others).\n")
	b.WriteString("The storage rules (action group \"(audit storage)\") read no audit record: ingestion and the sweep raise\n")
	b.WriteString("them from the audit blobs themselves (lengths, bytes already read, growth over time); disabling and\n")
	b.WriteString("severity overrides apply to them as to every rule.\n\n")
	b.WriteString("| ID | Title | Severity | ATT&CK | Phase | Action groups | Actions |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	cat := allRules()
	for _, r := range cat {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | [%s](https://attack.mitre.org/techniques/%s/) | %d | %s | %s |\n",
			r.ID, strings.ToLower(r.ID), r.Title, r.Severity, r.Technique, strings.ReplaceAll(r.Technique, ".", "/"), r.Phase,
			strings.Join(r.Groups, ", "), strings.Join(r.Actions, ", "))
	}
	b.WriteString("\n### Platform rules (Azure events)\n\n")
	b.WriteString("Azure SQL Database auditing is switched off, narrowed or redirected through Azure Resource Manager, and audit\n")
	b.WriteString("blobs can be deleted in the storage account: no audit record says so. The function `AuditControl` receives these\n")
	b.WriteString("Event Grid events (a Resource Manager system topic of the resource group or subscription, and `BlobDeleted`\n")
	b.WriteString("from the audit account's topic; `infra/deploy.sh` subscribes it). Failed operations (`…Failure` events) are\n")
	b.WriteString("reported one severity lower, as attempted. Detection ids derive from the event id, so a redelivered event\n")
	b.WriteString("notifies once.\n\n")
	b.WriteString("| ID | Title | Severity | ATT&CK | Event types | Roles |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range detect.PlatformCatalog() {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | [%s](https://attack.mitre.org/techniques/%s/) | %s | %s |\n",
			r.ID, strings.ToLower(r.ID), r.Title, r.Severity, r.Technique, strings.ReplaceAll(r.Technique, ".", "/"),
			shortTypes(r.EventTypes), strings.Join(r.Roles, "; "))
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
	b.WriteString("  does not depend on which record of a pair is read first.\n")
	b.WriteString("- **Baseline** rules learn what is usual per server and principal (principals, client networks, applications,\n")
	b.WriteString("  backup destinations, row counts) into the same state, for `XELWATCH_BASELINE_WINDOW` (30 days), and report\n")
	b.WriteString("  nothing during `XELWATCH_BASELINE_LEARNING` (7 days) after the first record of their server or principal\n")
	b.WriteString("  (BAS-003: the server's first backup). Disable one like any rule (`XELWATCH_DISABLED_RULES`, rules file); per-rule allow-lists silence them.\n\n")
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
		if r.Baseline {
			flags = append(flags, "baseline")
		}
		if len(flags) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(flags, ", "))
		}
		actions := strings.Join(r.Actions, ", ")
		if actions == "" {
			actions = "none (no audit record: raised from the audit blobs)"
		}
		fmt.Fprintf(&b, "\n\n%s.\n\nAction groups: %s. Action ids: %s.\n\n", r.Condition, strings.Join(r.Groups, ", "), actions)
	}
	for _, r := range detect.PlatformCatalog() {
		fmt.Fprintf(&b, "## %s\n\n**%s** — %s, ATT&CK %s, phase %d (platform", r.ID, r.Title, r.Severity, r.Technique, r.Phase)
		if r.Windowed {
			b.WriteString(", windowed")
		}
		fmt.Fprintf(&b, ")\n\n%s.\n\nEvent types: %s. Operations: %s.", r.Condition, strings.Join(r.EventTypes, ", "), strings.Join(r.Operations, ", "))
		if len(r.Actions) > 0 {
			fmt.Fprintf(&b, " Action groups: %s. Action ids: %s.", strings.Join(r.Groups, ", "), strings.Join(r.Actions, ", "))
		}
		fmt.Fprintf(&b, " Roles: %s.\n\n", strings.Join(r.Roles, "; "))
	}
	return b.String()
}
