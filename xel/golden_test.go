package xel

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/xelwatch/xelwatch/xel/xeltest/fixtures"
)

// readFixture reads a fixture and checks that it holds the bytes the
// manifest describes.
func readFixture(t testing.TB, f fixtures.File) []byte {
	t.Helper()
	b, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != f.Bytes || hex.EncodeToString(sum[:]) != f.SHA256 {
		t.Fatalf("%s: %d bytes sha256 %x, manifest says %d bytes %s", f.Rel, len(b), sum, f.Bytes, f.SHA256)
	}
	return b
}

// readOracle returns the expected JSON lines of a fixture.
func readOracle(t testing.TB, f fixtures.File) []string {
	t.Helper()
	fh, err := os.Open(f.Oracle)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var r io.Reader = fh
	if strings.HasSuffix(f.Oracle, ".gz") {
		zr, err := gzip.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// sameEvent applies the fixtures README's comparison rule: both lines
// parsed as JSON; name, timestamp, fields and actions equal; integers
// exact, other numbers as parsed doubles, strings exact.
func sameEvent(want, got string) error {
	parse := func(s string) (map[string]any, error) {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			return nil, err
		}
		if d.More() {
			return nil, fmt.Errorf("trailing data")
		}
		return m, nil
	}
	w, err := parse(want)
	if err != nil {
		return fmt.Errorf("oracle line: %v", err)
	}
	g, err := parse(got)
	if err != nil {
		return fmt.Errorf("decoder line is not JSON: %v", err)
	}
	for _, k := range []string{"name", "timestamp", "fields", "actions"} {
		gv, ok := g[k]
		if !ok {
			return fmt.Errorf("member %q missing", k)
		}
		if err := sameJSON(w[k], gv); err != nil {
			return fmt.Errorf("%s: %v", k, err)
		}
	}
	return nil
}

func sameJSON(want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("got %T, want object", got)
		}
		for k := range w {
			if _, ok := g[k]; !ok {
				return fmt.Errorf("key %q missing", k)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Errorf("unexpected key %q", k)
			}
			if err := sameJSON(w[k], g[k]); err != nil {
				return fmt.Errorf("%s: %v", k, err)
			}
		}
		return nil
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return fmt.Errorf("got %T %v, want number %s", got, got, w)
		}
		wi, wok := new(big.Int).SetString(string(w), 10)
		gi, gok := new(big.Int).SetString(string(g), 10)
		if wok && gok {
			if wi.Cmp(gi) != 0 {
				return fmt.Errorf("got %s, want %s", g, w)
			}
			return nil
		}
		if wok != gok && (wi == nil || wi.BitLen() > 53 || gi == nil || gi.BitLen() > 53) {
			return fmt.Errorf("got %s, want %s (integer vs float beyond 2^53)", g, w)
		}
		wf, err1 := strconv.ParseFloat(string(w), 64)
		gf, err2 := strconv.ParseFloat(string(g), 64)
		if err1 != nil || err2 != nil || wf != gf {
			return fmt.Errorf("got %s, want %s", g, w)
		}
		return nil
	default: // string, bool, nil
		if want != got {
			return fmt.Errorf("got %#v, want %#v", got, want)
		}
		return nil
	}
}

type readerMode struct {
	name string
	open func(b []byte) (*Reader, error)
}

var readerModes = []readerMode{
	{"NewReader", func(b []byte) (*Reader, error) { return NewReader(bytes.NewReader(b), nil) }},
	{"NewReaderAt", func(b []byte) (*Reader, error) { return NewReaderAt(bytes.NewReader(b), int64(len(b)), nil) }},
	{"OneByteReader", func(b []byte) (*Reader, error) { return NewReader(iotest.OneByteReader(bytes.NewReader(b)), nil) }},
	{"HalfReader", func(b []byte) (*Reader, error) { return NewReader(iotest.HalfReader(bytes.NewReader(b)), nil) }},
	{"DataErrReader", func(b []byte) (*Reader, error) { return NewReader(iotest.DataErrReader(bytes.NewReader(b)), nil) }},
}

func TestGolden(t *testing.T) {
	files := fixtures.Files(t)
	if len(files) != 15 {
		t.Errorf("manifest lists %d .xel files, want 15", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimPrefix(f.Rel, "files/"), func(t *testing.T) {
			b := readFixture(t, f)
			want := readOracle(t, f)
			if len(want) != f.Events {
				t.Fatalf("oracle has %d lines, manifest says %d events", len(want), f.Events)
			}
			for _, m := range readerModes {
				t.Run(m.name, func(t *testing.T) {
					r, err := m.open(b)
					if err != nil {
						t.Fatal(err)
					}
					got, err := decodeAll(t, r)
					if err != nil {
						t.Fatalf("after %d events: %v", len(got), err)
					}
					if len(got) != f.Events {
						t.Errorf("got %d events, want %d", len(got), f.Events)
					}
					bad := 0
					for i := 0; i < min(len(got), len(want)); i++ {
						if err := sameEvent(want[i], got[i]); err != nil {
							bad++
							if bad <= 3 {
								t.Errorf("event %d: %v", i, err)
							}
						}
					}
					if got, want := r.End(), int64(len(b)); got != want {
						t.Errorf("End() = %d, want %d (file size)", got, want)
					}
				})
			}
		})
	}
}

// TestSameEventRule checks the comparison itself, so that a lenient
// comparison cannot hide a decoder bug.
func TestSameEventRule(t *testing.T) {
	base := `{"name":"e","timestamp":"t","fields":{%s},"actions":{}}`
	tests := []struct {
		name      string
		want, got string
		equal     bool
	}{
		{"same int", `"a":1`, `"a":1`, true},
		{"big int exact", `"a":18446744073708437504`, `"a":18446744073708437504`, true},
		{"big int as float", `"a":18446744073708437504`, `"a":1.8446744073708438e+19`, false},
		{"float spelling", `"a":0.33333333333333331`, `"a":0.3333333333333333`, true},
		{"float differs", `"a":0.1`, `"a":0.2`, false},
		{"string vs number", `"a":"1"`, `"a":1`, false},
		{"bool vs int", `"a":true`, `"a":1`, false},
		{"missing key", `"a":1,"b":2`, `"a":1`, false},
		{"extra key", `"a":1`, `"a":1,"b":2`, false},
		{"string escape", `"a":"\u00e9"`, `"a":"é"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sameEvent(fmt.Sprintf(base, tt.want), fmt.Sprintf(base, tt.got))
			if got := err == nil; got != tt.equal {
				t.Errorf("equal = %v (%v), want %v", got, err, tt.equal)
			}
		})
	}
}
