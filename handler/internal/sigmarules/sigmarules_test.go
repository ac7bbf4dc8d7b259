package sigmarules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xelwatch/xelwatch/detect/sigma"
)

const rule = "title: t%d\nlogsource:\n    product: mssql\ndetection:\n    s:\n        action_id: EX\n    condition: s\n"

func write(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFolderAndFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b/two.yaml", fmt.Sprintf(rule, 2))
	write(t, dir, "a/one.yml", fmt.Sprintf(rule, 1))
	write(t, dir, "a/notes.txt", "not a rule")
	write(t, dir, ".git/hook.yml", "not: [valid")
	write(t, dir, "c/linux.yml", "title: l\nlogsource:\n    product: linux\ndetection:\n    s:\n        x: y\n    condition: s\n")
	single := write(t, t.TempDir(), "extra.yml", fmt.Sprintf(rule, 3))
	rs, err := Load(context.Background(), []string{dir, " " + single})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs.Rules {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "a/one.yml,b/two.yaml,extra.yml" {
		t.Errorf("rules %s", got)
	}
	if len(rs.Skipped) != 1 || !strings.Contains(rs.Skipped[0], filepath.Join(dir, "c", "linux.yml")) {
		t.Errorf("skipped %q", rs.Skipped)
	}
	// The rule id of a rule without an id follows its path under the folder.
	again, err := Load(context.Background(), []string{dir})
	if err != nil || again.Rules[0].Info.ID != rs.Rules[0].Info.ID {
		t.Errorf("ids %v %v", again.Rules[0].Info.ID, rs.Rules[0].Info.ID)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "ok.yml", fmt.Sprintf(rule, 1))
	bad := write(t, dir, "bad.yml", "title: t\nlogsource:\n    product: mssql\ndetection:\n    s:\n        nosuchfield: x\n    condition: s\n")
	big := write(t, dir, "big.yml", "title: t\n#"+strings.Repeat("x", sigma.MaxRuleBytes))
	fifo := filepath.Join(dir, "fifo.yml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(context.Background(), []string{dir, filepath.Join(dir, "missing.yml")})
	if err == nil {
		t.Fatal("Load accepted bad rules")
	}
	for _, want := range []string{
		bad + `: search "s": unknown field "nosuchfield"`,
		big + ": larger than",
		fifo + ": ",
		"missing.yml",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// Two files with one id.
	dup := t.TempDir()
	write(t, dup, "a.yml", "id: same\n"+fmt.Sprintf(rule, 1))
	write(t, dup, "b.yml", "id: same\n"+fmt.Sprintf(rule, 2))
	if _, err := Load(context.Background(), []string{dup}); err == nil || !strings.Contains(err.Error(), "same rule id SIG-same") {
		t.Errorf("duplicate ids: %v", err)
	}
}

func TestLoadBounds(t *testing.T) {
	many := t.TempDir()
	for i := range sigma.MaxRules + 1 {
		write(t, many, fmt.Sprintf("r%04d.yml", i), fmt.Sprintf(rule, i))
	}
	if _, err := Load(context.Background(), []string{many}); err == nil || !strings.Contains(err.Error(), "more than 1000 rule files") {
		t.Errorf("too many rules: %v", err)
	}
	deep := t.TempDir()
	write(t, deep, strings.Repeat("d/", MaxDepth+1)+"r.yml", fmt.Sprintf(rule, 1))
	if _, err := Load(context.Background(), []string{deep}); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("deep folders: %v", err)
	}
	if rs, err := Load(context.Background(), nil); err != nil || len(rs.Rules) != 0 {
		t.Errorf("no paths: %v, %v", rs, err)
	}
}
