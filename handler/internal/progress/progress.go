package progress

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// EnvVar is the setting that turns progress on or off: auto (default),
// always or never.
const EnvVar = "XELWATCH_PROGRESS"

// Mode is a value of EnvVar.
type Mode string

// Modes.
const (
	Auto   Mode = "auto"   // draw when stderr is a terminal and stdout is not
	Always Mode = "always" // draw on stderr whatever it is
	Never  Mode = "never"  // never draw
)

// ParseMode reads a value of EnvVar; empty means Auto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return Auto, nil
	case Auto, Always, Never:
		return m, nil
	}
	return "", fmt.Errorf("%s=%.40q: want auto, always or never", EnvVar, s)
}

// Writer returns where a command draws its progress: stderr, or nil when
// it draws none (by EnvVar, see the package documentation). The error
// names a bad EnvVar value.
func Writer(env envconfig.Lookuper, stdout, stderr io.Writer) (io.Writer, error) {
	var v string
	if env != nil {
		v, _ = env.Lookup(EnvVar)
	}
	m, err := ParseMode(v)
	if err != nil {
		return nil, err
	}
	switch {
	case m == Never:
		return nil, nil
	case m == Always, IsTerminal(stderr) && !IsTerminal(stdout):
		return stderr, nil
	}
	return nil, nil
}

// IsTerminal reports whether w is an *os.File open on a character device
// other than the null device (see the package documentation for what
// this test cannot tell).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

// Unit is what a Meter's done and total count.
type Unit int

// Units.
const (
	// Bytes: done and total are bytes; the rate is bytes per second.
	Bytes Unit = iota
	// Span: done and total are nanoseconds of a time range covered (a
	// query's event times); the rate is the items' (rows per second).
	Span
)

// DefaultEvery is the shortest time between two redraws.
const DefaultEvery = 250 * time.Millisecond

// minHistory is how long a Meter runs before it shows a rate and a time
// left: over the first moments (file headers, a first batch) they mean
// nothing.
const minHistory = time.Second

// maxWidth bounds a drawn line (the text is the meter's own, but a
// narrow terminal wraps a longer line and \r then redraws only its tail).
const maxWidth = 78

// Options of a Meter.
type Options struct {
	Label string // command name, first on the line
	Unit  Unit
	Total int64  // 0: unknown (no percentage, no ETA)
	Noun  string // what Count counts ("events", "rows"); empty: not shown
	// Now is the clock (default time.Now); Every the shortest time between
	// redraws (default DefaultEvery).
	Now   func() time.Time
	Every time.Duration
}

// Meter is one progress line. Its methods are safe for concurrent use; a
// nil *Meter does nothing.
type Meter struct {
	mu    sync.Mutex
	w     io.Writer
	o     Options
	start time.Time
	last  time.Time // of the last draw; zero before the first
	done  int64
	count int64
	width int // of the line on screen, to overwrite and clear
}

// New returns a Meter drawing on w, or nil when w is nil.
func New(w io.Writer, o Options) *Meter {
	if w == nil {
		return nil
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	return &Meter{w: w, o: o, start: o.Now()}
}

// SetTotal sets the total (0: unknown).
func (m *Meter) SetTotal(total int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.o.Total = max(total, 0)
}

// Set records that n units are done; progress never goes back, so a
// smaller n than before is ignored. It redraws if the last draw is older
// than Options.Every (the first call draws at once).
func (m *Meter) Set(n int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done = max(m.done, n)
	m.tick()
}

// Add records n more units done.
func (m *Meter) Add(n int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done += max(n, 0)
	m.tick()
}

// Count records n more items (Options.Noun); the next Set or Add draws
// them, so that a caller updating both draws one consistent line.
func (m *Meter) Count(n int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.count += n
}

// Done clears the line, if one was drawn, leaving the cursor at the start
// of the empty line.
func (m *Meter) Done() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.width > 0 {
		io.WriteString(m.w, "\r"+strings.Repeat(" ", m.width)+"\r")
		m.width = 0
	}
}

func (m *Meter) tick() {
	now := m.o.Now()
	if !m.last.IsZero() && now.Sub(m.last) < m.o.Every {
		return
	}
	m.last = now
	line := m.line(now)
	pad := ""
	if m.width > len(line) {
		pad = strings.Repeat(" ", m.width-len(line))
	}
	io.WriteString(m.w, "\r"+line+pad)
	m.width = len(line)
}

// line renders the line at time now, e.g.
//
//	decode: 512.0 MiB / 1.0 GiB (50%), 128.0 MiB/s, 1,234 events, ETA 4s
//	query: 2h00m of 4h00m (50%), 1,234 rows, 617 rows/s, ETA 2s
//
// The caller holds m.mu.
func (m *Meter) line(now time.Time) string {
	var b strings.Builder
	b.WriteString(m.o.Label)
	b.WriteString(": ")
	done, total := m.done, m.o.Total
	if total > 0 {
		done = min(done, total)
	}
	elapsed := now.Sub(m.start)
	if elapsed < minHistory {
		elapsed = 0 // no rate, no ETA yet
	}
	switch m.o.Unit {
	case Span:
		b.WriteString(Duration(time.Duration(done)))
		if total > 0 {
			fmt.Fprintf(&b, " of %s (%d%%)", Duration(time.Duration(total)), percent(done, total))
		}
	default:
		b.WriteString(Size(done))
		if total > 0 {
			fmt.Fprintf(&b, " / %s (%d%%)", Size(total), percent(done, total))
		}
		if elapsed > 0 {
			fmt.Fprintf(&b, ", %s/s", Size(int64(float64(done)/elapsed.Seconds())))
		}
	}
	if m.o.Noun != "" {
		fmt.Fprintf(&b, ", %s %s", Thousands(m.count), m.o.Noun)
		if m.o.Unit == Span && elapsed > 0 {
			fmt.Fprintf(&b, ", %s %s/s", Thousands(int64(float64(m.count)/elapsed.Seconds())), m.o.Noun)
		}
	}
	if total > 0 && done > 0 && done < total && elapsed > 0 {
		left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		fmt.Fprintf(&b, ", ETA %s", Duration(left))
	}
	s := b.String()
	if len(s) > maxWidth {
		s = s[:maxWidth-1] + "~"
	}
	return s
}

func percent(done, total int64) int64 {
	return int64(float64(done) / float64(total) * 100)
}

// Size formats a byte count in binary units: 512 B, 1.5 KiB, 12.0 MiB.
func Size(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + units[i]
}

// Duration formats a duration to the second, coarser as it grows:
// 0s, 45s, 1m05s, 2h03m, 3d04h.
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// Thousands formats n with comma separators: 1,234,567.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Files feeds a Meter (nil: none) from a loop that reads files one after
// another: the bytes of the files done plus the offset reached in the
// current one, and the items (events, records) read.
type Files struct {
	M    *Meter
	base int64 // bytes of the files before the current one
	n    int   // items of the current file already counted
}

// At: reading the current file reached offset end after n items.
func (f *Files) At(end int64, n int) {
	if f.M == nil {
		return
	}
	f.M.Count(int64(n - f.n))
	f.n = n
	f.M.Set(f.base + end)
}

// Next: the current file is over; size is its size (or, for a stream of
// unknown size, the offset reached).
func (f *Files) Next(size int64) {
	f.base += max(size, 0)
	f.n = 0
	f.M.Set(f.base)
}
