package demo

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
)

var update = flag.Bool("update", false, "rewrite testdata/sample.xel")

func TestSampleIsCurrent(t *testing.T) {
	got, err := Sample()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "sample.xel")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Sample() (%d bytes) differs from %s (%d bytes): run go test ./handler/demo -update", len(got), path, len(want))
	}
	if !bytes.Equal(sampleXEL, want) {
		t.Fatalf("embedded sample differs from %s: rebuild", path)
	}
}

func TestSampleDecodes(t *testing.T) {
	t.Parallel()
	xr, err := xel.NewReader(bytes.NewReader(sampleXEL), nil)
	if err != nil {
		t.Fatal(err)
	}
	ar := audit.NewReader(xr, "sample.xel", &audit.ReaderOptions{FlushIncomplete: true})
	actions := map[string]int{}
	n := 0
	for rec, err := range ar.All() {
		if err != nil {
			t.Fatal(err)
		}
		n++
		actions[rec.ActionID]++
	}
	if got, want := n, len(sampleEvents()); got != want {
		t.Errorf("records = %d, want %d", got, want)
	}
	for _, a := range []string{"LGIS", "BCM", "AL", "BA"} {
		if actions[a] == 0 {
			t.Errorf("no %s record in the sample", a)
		}
	}
}
