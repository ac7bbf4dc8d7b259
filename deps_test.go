package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBinaryLinksNoTestCode lists the packages the xelwatch binary links
// and fails when one is test scaffolding: the standard testing packages,
// or a package of this module that exists for tests (the xel test writer,
// the packages under handler/internal/testsupport, the store fake, and
// any package named *test or *testsupport).
func TestBinaryLinksNoTestCode(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, module+"/xel") {
		t.Fatalf("go list -deps gave %d packages, not the binary's:\n%s", len(deps), out)
	}
	for _, p := range deps {
		if why := testScaffolding(p); why != "" {
			t.Errorf("the binary links %s (%s)", p, why)
		}
	}
}

const module = "github.com/xelwatch/xelwatch"

// testScaffolding says why package path p is test code, or "".
func testScaffolding(p string) string {
	switch {
	case p == "testing" || strings.HasPrefix(p, "testing/") || p == "net/http/httptest":
		return "standard test package"
	case p != module && !strings.HasPrefix(p, module+"/"):
		return ""
	}
	for _, test := range []string{"xel/xeltest", "handler/internal/testsupport", "handler/internal/store/storefake"} {
		if p == module+"/"+test || strings.HasPrefix(p, module+"/"+test+"/") {
			return "test scaffolding of this module"
		}
	}
	name := p[strings.LastIndex(p, "/")+1:]
	if strings.HasSuffix(name, "test") || strings.HasSuffix(name, "testsupport") {
		return "package named *test or *testsupport"
	}
	return ""
}

func TestTestScaffolding(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"testing":               true,
		"testing/fstest":        true,
		"net/http/httptest":     true,
		"internal/synctest":     false, // linked by the runtime, not test code
		module + "/xel/xeltest": true,
		module + "/handler/internal/testsupport/hostsim":     true,
		module + "/handler/internal/testsupport/azuritetest": true,
		module + "/handler/internal/testsupport/bench":       true,
		module + "/handler/internal/store/storefake":         true,
		module + "/handler/internal/azclient/azclienttest":   true,
		module + "/xel":                     false,
		module + "/handler/internal/ingest": false,
		module + "/handler/benchmarks":      false,
		module:                              false,
	} {
		if got := testScaffolding(p) != ""; got != want {
			t.Errorf("testScaffolding(%q) = %v, want %v", p, got, want)
		}
	}
}
