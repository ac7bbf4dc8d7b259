package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// clock is a fake clock the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC)

func TestLineBytes(t *testing.T) {
	c := &clock{t0}
	var out bytes.Buffer
	m := New(&out, Options{Label: "decode", Total: 1 << 30, Noun: "events", Now: c.now})
	c.t = t0.Add(4 * time.Second)
	m.done, m.count = 512<<20, 1234567
	if got, want := m.line(c.t), "decode: 512.0 MiB / 1.0 GiB (50%), 128.0 MiB/s, 1,234,567 events, ETA 4s"; got != want {
		t.Errorf("line\n got %q\nwant %q", got, want)
	}
	m.done = 1 << 30 // at the total: no ETA
	if got, want := m.line(c.t), "decode: 1.0 GiB / 1.0 GiB (100%), 256.0 MiB/s, 1,234,567 events"; got != want {
		t.Errorf("line at the end\n got %q\nwant %q", got, want)
	}
}

func TestLineUnknownTotal(t *testing.T) {
	c := &clock{t0}
	m := New(&bytes.Buffer{}, Options{Label: "decode", Now: c.now})
	c.t = t0.Add(2 * time.Second)
	m.done = 3000
	if got, want := m.line(c.t), "decode: 2.9 KiB, 1.5 KiB/s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Within the first second there is no rate to show.
	if got, want := m.line(t0.Add(999*time.Millisecond)), "decode: 2.9 KiB"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLineSpan(t *testing.T) {
	c := &clock{t0}
	m := New(&bytes.Buffer{}, Options{Label: "query", Unit: Span, Total: int64(4 * time.Hour), Noun: "rows", Now: c.now})
	c.t = t0.Add(90 * time.Second)
	m.done, m.count = int64(time.Hour), 9000
	if got, want := m.line(c.t), "query: 1h00m of 4h00m (25%), 9,000 rows, 100 rows/s, ETA 4m30s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	m.done = int64(10 * time.Hour) // past the range: capped
	if got, want := m.line(c.t), "query: 4h00m of 4h00m (100%), 9,000 rows, 100 rows/s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFormats(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 40: "5.0 TiB", 1<<63 - 1: "8.0 EiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{-time.Second: "0s", 999 * time.Millisecond: "0s", 45 * time.Second: "45s", 65 * time.Second: "1m05s",
		2*time.Hour + 3*time.Minute + 59*time.Second: "2h03m", 76 * time.Hour: "3d04h"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestRedrawRate: the first update draws, later ones within Every do
// not, the next one after it does (overwriting a longer line fully), and
// Done clears the line; progress never goes back.
func TestRedrawRate(t *testing.T) {
	c := &clock{t0}
	var out bytes.Buffer
	m := New(&out, Options{Label: "scan", Total: 100 << 20, Now: c.now, Every: time.Second})
	m.Set(10 << 20)
	first := out.String()
	if first != "\rscan: 10.0 MiB / 100.0 MiB (10%)" {
		t.Fatalf("first draw %q", first)
	}
	c.t = t0.Add(500 * time.Millisecond)
	m.Set(20 << 20)
	m.Set(5 << 20) // ignored: never back
	if out.String() != first {
		t.Errorf("redrawn within Every: %q", out.String())
	}
	c.t = t0.Add(time.Second)
	m.Add(0)
	second := strings.TrimPrefix(out.String(), first)
	if want := "\rscan: 20.0 MiB / 100.0 MiB (20%), 20.0 MiB/s, ETA 4s"; second != want {
		t.Errorf("second draw %q, want %q", second, want)
	}
	m.Done()
	clear := strings.TrimPrefix(out.String(), first+second)
	if want := "\r" + strings.Repeat(" ", len(second)-1) + "\r"; clear != want {
		t.Errorf("Done wrote %q, want %q", clear, want)
	}
	m.Done() // once cleared, nothing more
	if strings.Count(out.String(), "\r") != 4 {
		t.Errorf("output %q", out.String())
	}
	if strings.Contains(out.String(), "\n") {
		t.Errorf("a newline in %q", out.String())
	}
}

// TestShorterLineOverwritesLonger: a line shorter than the one on screen
// is padded with spaces over the rest of it.
func TestShorterLineOverwritesLonger(t *testing.T) {
	c := &clock{t0}
	var out bytes.Buffer
	m := New(&out, Options{Label: "x", Total: 100 << 20, Now: c.now, Every: time.Second})
	c.t = t0.Add(time.Second)
	m.Set(50 << 20)
	long := "\rx: 50.0 MiB / 100.0 MiB (50%), 50.0 MiB/s, ETA 1s"
	if out.String() != long {
		t.Fatalf("first draw %q, want %q", out.String(), long)
	}
	c.t = t0.Add(2 * time.Second)
	m.Set(100 << 20)
	short := "\rx: 100.0 MiB / 100.0 MiB (100%), 50.0 MiB/s"
	if got, want := out.String()[len(long):], short+strings.Repeat(" ", len(long)-len(short)); got != want {
		t.Errorf("second draw %q, want %q", got, want)
	}
}

func TestNilMeterIsInert(t *testing.T) {
	m := New(nil, Options{})
	if m != nil {
		t.Fatal("New(nil) is not nil")
	}
	m.Set(1)
	m.Add(1)
	m.Count(1)
	m.SetTotal(1)
	m.Done()
}

func TestWriter(t *testing.T) {
	var so, se bytes.Buffer
	env := func(v string) envconfig.Lookuper {
		return envconfig.MapLookuper(map[string]string{EnvVar: v})
	}
	for _, v := range []string{"", "auto", "never", "NEVER"} {
		if w, err := Writer(env(v), &so, &se); err != nil || w != nil {
			t.Errorf("%q with buffers: %v, %v; want nil", v, w, err)
		}
	}
	if w, err := Writer(env("always"), &so, &se); err != nil || w != &se {
		t.Errorf("always: %v, %v; want stderr", w, err)
	}
	if _, err := Writer(env("yes"), &so, &se); err == nil || !strings.Contains(err.Error(), EnvVar) {
		t.Errorf("a bad value: %v, want an error naming %s", err, EnvVar)
	}
	if w, err := Writer(nil, &so, &se); err != nil || w != nil {
		t.Errorf("no env: %v, %v", w, err)
	}
}

// TestIsTerminal: a regular file, a pipe and the null device are not
// terminals (a writer that is not an *os.File never is).
func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for name, w := range map[string]any{"file": f, "pipe": w, "null": null, "buffer": &bytes.Buffer{}} {
		if IsTerminal(w.(interface{ Write([]byte) (int, error) })) {
			t.Errorf("%s is taken for a terminal", name)
		}
	}
	if IsTerminal((*os.File)(nil)) {
		t.Error("a nil *os.File is taken for a terminal")
	}
	// With stderr a pipe, auto draws nothing even if stdout is the null device.
	if got, err := Writer(envconfig.MapLookuper(nil), null, w); err != nil || got != nil {
		t.Errorf("auto with stderr a pipe: %v, %v", got, err)
	}
}
