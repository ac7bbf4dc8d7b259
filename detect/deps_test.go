package detect

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPureLibrary keeps detect a pure library: neither it nor detect/tsql
// depends on go-envconfig or the Azure SDK (directly or not), and neither
// imports os, io/fs or path/filepath itself (the application reads the
// environment and the rules file; detect takes plain values and bytes).
func TestPureLibrary(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go command: %v", err)
	}
	pkgs := []string{"github.com/xelwatch/xelwatch/detect", "github.com/xelwatch/xelwatch/detect/tsql"}
	out, err := exec.Command(goBin, append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		for _, bad := range []string{"github.com/sethvargo/go-envconfig", "github.com/Azure/"} {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("detect depends on %s", dep)
			}
		}
	}
	// Direct imports of the shipped (non-test) files only.
	out, err = exec.Command(goBin, append([]string{"list", "-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -f: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		pkg, imports, _ := strings.Cut(strings.TrimSpace(line), ":")
		for imp := range strings.FieldsSeq(imports) {
			switch imp {
			case "os", "io/fs", "path/filepath", "io/ioutil", "os/exec", "syscall":
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
}
