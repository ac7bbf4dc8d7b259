package detectcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

// Rules written for these tests in SigmaHQ's style (not copies).
var sigmaRules = map[string]string{
	// SigmaHQ-style: Windows Application log, event 33205, Data text.
	"mssql/xp_cmdshell_exec.yml": `title: xp_cmdshell executed (test)
id: 0c3e5a1b-7f64-4b8e-9d2a-5e6f7a8b9c01
status: experimental
logsource:
    product: windows
    service: application
    definition: 'SQL Server audit to the Application log'
detection:
    selection:
        Provider_Name|contains: 'MSSQL'
        EventID: 33205
        Data|contains|all:
            - 'object_name:xp_cmdshell'
            - 'statement:EXEC'
    condition: selection
level: high
tags:
    - attack.execution
    - attack.t1505.001
`,
	// xelwatch's own logsource and column names: the backup statement
	// SQL Server split at 4000 characters is matched reassembled.
	"team/exfil_backup.yaml": `title: Backup to the exfil account (test)
logsource:
    product: mssql
detection:
    selection:
        action_id: BA
        statement|contains: 'exfil.blob.core.windows.net'
    filter:
        server_principal_name|endswith: 'svc-backup'
    condition: selection and not filter
level: critical
`,
	// Another logsource: skipped and listed.
	"other/process.yml": `title: cmd spawned (test)
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\cmd.exe'
    condition: selection
level: low
`,
	// Not a rule file: ignored.
	"README.md": "# rules\n",
}

func writeRules(t *testing.T, rules map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range rules {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type scanned struct {
	Rule        string            `json:"rule"`
	Severity    string            `json:"severity"`
	Title       string            `json:"title"`
	Technique   string            `json:"technique"`
	DetectionID string            `json:"detection_id"`
	Why         string            `json:"why"`
	Records     []detect.Evidence `json:"records"`
}

func runScan(t *testing.T, args ...string) ([]scanned, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := scan(context.Background(), args, &out, &errb, envconfig.MapLookuper(scanEnv)); code != 0 {
		t.Fatalf("scan %v = %d, stderr:\n%s", args, code, errb.String())
	}
	var fs []scanned
	for line := range strings.Lines(out.String()) {
		var f scanned
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		fs = append(fs, f)
	}
	return fs, errb.String()
}

// TestScanSigma: an end-to-end scan of audit files with a rules folder.
// The Sigma findings come beside the catalog's, which do not change.
func TestScanSigma(t *testing.T) {
	dir := t.TempDir()
	writeScenarios(t, dir)
	x := ev(20, "EX", "X", `CONTOSO\mallory`, "EXEC master..xp_cmdshell 'whoami'")
	x.ObjectName, x.SchemaName = "xp_cmdshell", "sys"
	near := ev(21, "SL", "V", `CONTOSO\alice`, "SELECT * FROM sys.configurations WHERE name = 'xp_cmdshell'")
	near.ObjectName = "xp_cmdshell"
	writeEvents(t, filepath.Join(dir, "sql03/master/Main/2026-11-18/13_00_00_000_0.xel"), x, near)
	rules := writeRules(t, sigmaRules)

	plain, _ := runScan(t, dir)
	with, stderr := runScan(t, "--sigma", rules, dir)
	if !strings.Contains(stderr, "process.yml") || !strings.Contains(stderr, "not SQL Server audit") {
		t.Errorf("stderr does not list the skipped rule:\n%s", stderr)
	}
	var catalog, sig []scanned
	for _, f := range with {
		if strings.HasPrefix(f.Rule, "SIG-") {
			sig = append(sig, f)
		} else {
			catalog = append(catalog, f)
		}
	}
	if len(catalog) != len(plain) {
		t.Errorf("catalog findings %d with Sigma rules, %d without", len(catalog), len(plain))
	}
	byRule := map[string][]scanned{}
	for _, f := range sig {
		byRule[f.Rule] = append(byRule[f.Rule], f)
	}
	xp := byRule["SIG-0c3e5a1b-7f64-4b8e-9d2a-5e6f7a8b9c01"]
	if len(xp) != 1 || xp[0].Severity != "high" || xp[0].Technique != "T1505.001" || xp[0].Records[0].Principal != `CONTOSO\mallory` ||
		!strings.Contains(xp[0].Why, `Sigma rule "xp_cmdshell executed (test)" matched (selection)`) {
		t.Errorf("xp_cmdshell findings: %+v", xp)
	}
	var exfil []scanned
	for id, fs := range byRule {
		if strings.HasPrefix(id, "SIG-exfil_backup-") {
			exfil = append(exfil, fs...)
		}
	}
	// Two backups to the exfil account, one of them split by SQL Server.
	if len(exfil) != 2 || exfil[0].Severity != "critical" {
		t.Errorf("exfil findings: %+v (all Sigma: %v)", exfil, byRule)
	}
	if len(sig) != 3 {
		t.Errorf("%d Sigma findings, want 3: %+v", len(sig), sig)
	}
	// Replay: the same files give the same detection ids.
	again, _ := runScan(t, "--sigma", rules, dir)
	ids := func(fs []scanned) map[string]bool {
		m := map[string]bool{}
		for _, f := range fs {
			m[f.DetectionID] = true
		}
		return m
	}
	a, b := ids(with), ids(again)
	if len(a) != len(b) {
		t.Errorf("replay: %d ids, then %d", len(a), len(b))
	}
	for id := range a {
		if !b[id] {
			t.Errorf("replay lost detection %s", id)
		}
	}
	// The setting works like the flag.
	var out, errb bytes.Buffer
	env := envconfig.MapLookuper(map[string]string{"XELWATCH_SIGMA_RULES": filepath.Join(rules, "mssql") + "," + filepath.Join(rules, "team", "exfil_backup.yaml")})
	if code := scan(context.Background(), []string{dir}, &out, &errb, env); code != 0 || strings.Count(out.String(), `"SIG-`) != 3 {
		t.Errorf("XELWATCH_SIGMA_RULES: exit %d, %d Sigma findings, stderr:\n%s", code, strings.Count(out.String(), `"SIG-`), errb.String())
	}
}

// TestScanSigmaInvalid: bad rule files stop the scan before it reads
// anything, each named with its reason.
func TestScanSigmaInvalid(t *testing.T) {
	rules := writeRules(t, map[string]string{
		"good.yml":          sigmaRules["mssql/xp_cmdshell_exec.yml"],
		"bad_yaml.yml":      "title: [unclosed\n",
		"bad_modifier.yml":  "title: t\nlogsource:\n    product: mssql\ndetection:\n    s:\n        statement|base64offset|contains: x\n    condition: s\n",
		"no_detection.yaml": "title: t\nlogsource:\n    product: mssql\n",
	})
	var out, errb bytes.Buffer
	code := scan(context.Background(), []string{"--sigma", rules, t.TempDir()}, &out, &errb, envconfig.MapLookuper(nil))
	if code != exitUsage {
		t.Fatalf("scan = %d, want %d; stderr:\n%s", code, exitUsage, errb.String())
	}
	for _, want := range []string{
		filepath.Join(rules, "bad_yaml.yml") + ": invalid rule",
		filepath.Join(rules, "bad_modifier.yml") + `: search "s": field statement: unknown modifier base64offset`,
		filepath.Join(rules, "no_detection.yaml") + ": missing detection",
		"invalid --sigma",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "good.yml") || strings.Contains(errb.String(), "XELWATCH_SIGMA_RULES") {
		t.Errorf("stderr names the good rule or the setting the flag overrode:\n%s", errb.String())
	}
	// The same rules from the setting: the error names the setting.
	errb.Reset()
	env := envconfig.MapLookuper(map[string]string{"XELWATCH_SIGMA_RULES": rules})
	if code := scan(context.Background(), []string{t.TempDir()}, &out, &errb, env); code != exitUsage {
		t.Fatalf("scan with the setting = %d, want %d; stderr:\n%s", code, exitUsage, errb.String())
	}
	if !strings.Contains(errb.String(), "XELWATCH_SIGMA_RULES") || strings.Contains(errb.String(), "--sigma") {
		t.Errorf("stderr should name the setting, not the flag:\n%s", errb.String())
	}
}

func TestRulesListsSigma(t *testing.T) {
	rules := writeRules(t, sigmaRules)
	var out, errb bytes.Buffer
	if code := Rules(context.Background(), []string{"--sigma", rules}, envconfig.MapLookuper(nil), nil, &out, &errb); code != 0 {
		t.Fatalf("rules = %d: %s", code, errb.String())
	}
	for _, want := range []string{"Sigma rules (2):", "SIG-0c3e5a1b-7f64-4b8e-9d2a-5e6f7a8b9c01", "xp_cmdshell executed (test)", "mssql/xp_cmdshell_exec.yml", "team/exfil_backup.yaml", "critical"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	env := envconfig.MapLookuper(map[string]string{"XELWATCH_SIGMA_RULES": rules})
	if code := Rules(context.Background(), []string{"--format", "json"}, env, nil, &out, &errb); code != 0 {
		t.Fatalf("rules json = %d: %s", code, errb.String())
	}
	var infos []detect.RuleInfo
	if err := json.Unmarshal(out.Bytes(), &infos); err != nil {
		t.Fatal(err)
	}
	if n := len(infos); n != len(allRules())+len(detect.PlatformCatalog())+2 || infos[n-2].ID != "SIG-0c3e5a1b-7f64-4b8e-9d2a-5e6f7a8b9c01" {
		t.Errorf("json: %d rules, last %+v", n, infos[n-1])
	}
	// Without Sigma rules the output is the catalog alone.
	out.Reset()
	if code := Rules(context.Background(), nil, envconfig.MapLookuper(nil), nil, &out, &errb); code != 0 || strings.Contains(out.String(), "Sigma") {
		t.Errorf("rules without Sigma: %d\n%s", code, out.String())
	}
}

// writeEvents writes one audit file at p.
func writeEvents(t *testing.T, p string, evs ...xeltest.AuditEvent) {
	t.Helper()
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := w.WriteAudit(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
