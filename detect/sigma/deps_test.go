package sigma

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPureLibrary keeps detect/sigma pure like detect: no go-envconfig or
// Azure SDK among its dependencies, and no os, io/fs or path/filepath in
// its own (non-test) files — the application reads the rule files
// (handler/internal/sigmarules) and hands over bytes.
func TestPureLibrary(t *testing.T) {
	t.Parallel()
	const pkg = "github.com/xelwatch/xelwatch/detect/sigma"
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		for _, bad := range []string{"github.com/sethvargo/go-envconfig", "github.com/Azure/"} {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("detect/sigma depends on %s", dep)
			}
		}
	}
	out, err = exec.Command("go", "list", "-f", "{{range .Imports}}{{.}} {{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -f: %v", err)
	}
	for imp := range strings.FieldsSeq(string(out)) {
		switch imp {
		case "os", "io/fs", "path/filepath", "io/ioutil", "os/exec", "syscall":
			t.Errorf("detect/sigma imports %s", imp)
		}
	}
}
