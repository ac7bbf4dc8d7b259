package xeltest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/xeltest"
)

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456700, time.UTC)

// writeSamples writes n sample events to a fresh file and returns it.
func writeSamples(t *testing.T, opts *xeltest.Options, n int) ([]byte, *xeltest.Writer, []xeltest.Event) {
	t.Helper()
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	var evs []xeltest.Event
	for i := range n {
		e := xeltest.SampleEvent("sample", i, t0.Add(time.Duration(i)*time.Millisecond))
		evs = append(evs, e)
		if err := w.WriteEvent(e); err != nil {
			t.Fatalf("WriteEvent %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w, evs
}

func decodeAll(t *testing.T, data []byte) ([]map[string]string, error) {
	t.Helper()
	xr, err := xel.NewReader(bytes.NewReader(data), nil)
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for ev, err := range xr.All() {
		if err != nil {
			return out, err
		}
		m := map[string]string{"@name": ev.Package + "." + ev.Name, "@time": ev.Timestamp.Format(time.RFC3339Nano),
			"@pos": fmt.Sprint(ev.Offset, "/", ev.Index)}
		for _, f := range ev.Fields {
			m[f.Name] = f.Value.Text()
		}
		for _, a := range ev.Actions {
			m["action:"+a.Name] = a.Value.Text()
		}
		out = append(out, m)
	}
	return out, nil
}

// wantText renders what a decoder's Value.Text must give for the value
// the writer was handed (the oracle's textual convention).
func wantText(name string, v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		if len(x) == 0 {
			return "0x"
		}
		return fmt.Sprintf("0x%X", x)
	case xeltest.GUID:
		return x.String()
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.0000000Z")
	case bool:
		return strconv.FormatBool(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []uint64:
		s := ""
		for _, f := range x {
			s += fmt.Sprintf("0x%016X\r\n", f)
		}
		return s
	case xeltest.ActivityID:
		return fmt.Sprintf("%s:%d", x.GUID, x.Seq)
	}
	switch name {
	case "f_ptr":
		return fmt.Sprintf("0x%016X", v)
	case "state":
		return []string{"IDLE", "RUNNING", "STOPPED"}[v.(uint8)]
	case "flags":
		var parts []string
		for bit, s := range []string{"READ", "WRITE", "EXEC"} {
			if v.(uint32)&(1<<bit) != 0 {
				parts = append(parts, s)
			}
		}
		out := ""
		for i, p := range parts {
			if i > 0 {
				out += ","
			}
			out += p
		}
		return out
	}
	return fmt.Sprint(v)
}

func TestRoundTripEveryType(t *testing.T) {
	cases := []struct {
		name string
		opts xeltest.Options
		n    int
	}{
		{"one buffer", xeltest.Options{}, 10},
		{"many small buffers", xeltest.Options{BufferSize: 1024}, 60},
		{"three partitions", xeltest.Options{BufferSize: 2048, Partitions: 3}, 90},
		{"trimmed buffers", xeltest.Options{BufferSize: 4096, TrimBuffers: true, Partitions: 2}, 40},
		{"frequency 0", xeltest.Options{Clock: &xeltest.Clock{Start: t0.Add(-time.Hour)}}, 5},
		{"frequency QPC", xeltest.Options{Clock: &xeltest.Clock{Start: t0.Add(-time.Hour), Frequency: 2_725_525}}, 5},
		{"event larger than a buffer", xeltest.Options{BufferSize: 512}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Packages = []xeltest.Package{xeltest.SamplePackage("sample")}
			opts.TrackPositions = true
			data, w, evs := writeSamples(t, &opts, tc.n)
			got, err := decodeAll(t, data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(got) != len(evs) {
				t.Fatalf("decoded %d events, want %d", len(got), len(evs))
			}
			// Events come back buffer by buffer; match them by position.
			byPos := map[string]map[string]string{}
			for _, g := range got {
				byPos[g["@pos"]] = g
			}
			clock := w.Clock("sample")
			for i, e := range evs {
				p := w.Positions()[i]
				g, ok := byPos[fmt.Sprint(p.Offset, "/", p.Index)]
				if !ok {
					t.Fatalf("event %d at %+v not decoded", i, p)
				}
				if want := "sample.every_type"; g["@name"] != want {
					t.Errorf("event %d name = %q, want %q", i, g["@name"], want)
				}
				wantTime := clock.Time(clock.Ticks(e.Time)).Format(time.RFC3339Nano)
				if g["@time"] != wantTime {
					t.Errorf("event %d time = %s, want %s", i, g["@time"], wantTime)
				}
				for name, v := range e.Fields {
					if want := wantText(name, v); g[name] != want {
						t.Errorf("event %d field %s = %q, want %q", i, name, g[name], want)
					}
				}
				for _, a := range e.Actions {
					if want := wantText(a.Name, a.Value); g["action:"+a.Name] != want {
						t.Errorf("event %d action %s = %q, want %q", i, a.Name, g["action:"+a.Name], want)
					}
				}
				if len(e.Actions) == 0 {
					if _, ok := g["action:session_id"]; ok {
						t.Errorf("event %d has actions, want none", i)
					}
				}
			}
		})
	}
}

func TestRoundTripExactNumbers(t *testing.T) {
	opts := xeltest.Options{Packages: []xeltest.Package{xeltest.SamplePackage("sample")}}
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &opts)
	if err != nil {
		t.Fatal(err)
	}
	extremes := map[string]any{
		"f_int8": int8(math.MinInt8), "f_int16": int16(math.MinInt16), "f_int32": int32(math.MinInt32),
		"f_int64": int64(math.MinInt64), "f_uint8": uint8(math.MaxUint8), "f_uint16": uint16(math.MaxUint16),
		"f_uint32": uint32(math.MaxUint32), "f_uint64": uint64(math.MaxUint64),
	}
	if err := w.WriteEvent(xeltest.Event{Package: "sample", Name: "every_type", Time: t0, Fields: extremes}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	xr, err := xel.NewReader(bytes.NewReader(buf.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := xr.Next()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range extremes {
		v, ok := ev.Field(name)
		if !ok {
			t.Fatalf("field %s missing", name)
		}
		switch x := want.(type) {
		case int8, int16, int32, int64:
			if got, w := v.Int(), reflectInt(x); got != w {
				t.Errorf("%s = %d, want %d", name, got, w)
			}
		default:
			if got, w := v.Uint(), reflectUint(x); got != w {
				t.Errorf("%s = %d, want %d", name, got, w)
			}
		}
	}
	// Fields not given are zero / zero-length.
	if v, _ := ev.Field("f_unicode"); v.Text() != "" || len(v.Bytes()) != 0 {
		t.Errorf("omitted f_unicode = %q, want empty", v.Text())
	}
	if _, err := xr.Next(); err != io.EOF {
		t.Errorf("second Next error = %v, want io.EOF", err)
	}
}

func reflectInt(v any) int64 {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	}
	return 0
}

func reflectUint(v any) uint64 {
	switch x := v.(type) {
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	case uint64:
		return x
	}
	return 0
}

func TestSamePackageNameTwice(t *testing.T) {
	a := xeltest.SamplePackage("sqlserver")
	a.Index = 3
	b := xeltest.SamplePackage("sqlserver")
	b.Index = 8
	b.Events[0].Name = "second_event"
	opts := xeltest.Options{Packages: []xeltest.Package{a, b}}
	var buf bytes.Buffer
	w, err := xeltest.NewWriter(&buf, &opts)
	if err != nil {
		t.Fatal(err)
	}
	e1 := xeltest.SampleEvent("sqlserver", 1, t0)
	e1.PackageIndex = 3
	e2 := xeltest.SampleEvent("sqlserver", 2, t0)
	e2.PackageIndex, e2.Name = 8, "second_event"
	for _, e := range []xeltest.Event{e1, e2} {
		if err := w.WriteEvent(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := decodeAll(t, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range got {
		names = append(names, g["@name"])
	}
	want := []string{"sqlserver.every_type", "sqlserver.second_event"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("names = %v, want %v", names, want)
	}
}

func TestTrailingBuffers(t *testing.T) {
	cases := []struct {
		name    string
		finish  func(w *xeltest.Writer) error
		wantErr error
		wantN   int
	}{
		{"clean end", func(w *xeltest.Writer) error { return w.Flush() }, io.EOF, 20},
		{"zeroed trailing buffer", func(w *xeltest.Writer) error { return w.WriteZeroBuffer(4096) }, io.EOF, 20},
		{"partial trailing buffer", func(w *xeltest.Writer) error {
			if err := w.Flush(); err != nil {
				return err
			}
			for i := range 5 {
				if err := w.WriteEvent(xeltest.SampleEvent("sample", 100+i, t0)); err != nil {
					return err
				}
			}
			return w.FlushPartial(700)
		}, xel.ErrTruncated, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := xeltest.NewWriter(&buf, &xeltest.Options{BufferSize: 4096, Packages: []xeltest.Package{xeltest.SamplePackage("sample")}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				if err := w.WriteEvent(xeltest.SampleEvent("sample", i, t0)); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.finish(w); err != nil {
				t.Fatal(err)
			}
			xr, err := xel.NewReader(bytes.NewReader(buf.Bytes()), nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				_, err = xr.Next()
				if err != nil {
					break
				}
				n++
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("final error = %v, want %v", err, tc.wantErr)
			}
			if n != tc.wantN {
				t.Errorf("decoded %d events, want %d", n, tc.wantN)
			}
			if tc.wantErr == xel.ErrTruncated {
				last := w.Buffers()[len(w.Buffers())-1]
				if xr.End() != last.Offset {
					t.Errorf("End() = %d, want offset of the partial buffer %d", xr.End(), last.Offset)
				}
			}
		})
	}
}

func TestSplitStatement(t *testing.T) {
	emoji := "😀" // two UTF-16 units
	cases := []struct {
		name      string
		stmt      string
		info      string
		wantParts []int // UTF-16 length of each statement piece
	}{
		{"short", "SELECT 1", "", []int{8}},
		{"exactly 4000", string(bytes.Repeat([]byte("a"), 4000)), "", []int{4000}},
		{"4001", string(bytes.Repeat([]byte("a"), 4001)), "", []int{4000, 1}},
		{"10000", string(bytes.Repeat([]byte("b"), 10000)), "", []int{4000, 4000, 2000}},
		{"surrogate pair at the cut", string(bytes.Repeat([]byte("c"), 3999)) + emoji + "d", "", []int{3999, 3}},
		{"long additional_information", "x", string(bytes.Repeat([]byte("i"), 4500)), []int{1, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parts := xeltest.SplitStatement(xeltest.AuditEvent{Statement: tc.stmt, AdditionalInformation: tc.info, SessionID: 7}, xeltest.SplitChars)
			var lens []int
			var st, ai string
			for i, p := range parts {
				lens = append(lens, len(utf16.Encode([]rune(p.Statement))))
				if p.SequenceNumber != int32(i+1) {
					t.Errorf("part %d sequence_number = %d, want %d", i, p.SequenceNumber, i+1)
				}
				if p.SessionID != 7 {
					t.Errorf("part %d session_id = %d, want 7", i, p.SessionID)
				}
				st += p.Statement
				ai += p.AdditionalInformation
			}
			if fmt.Sprint(lens) != fmt.Sprint(tc.wantParts) {
				t.Errorf("piece lengths = %v, want %v", lens, tc.wantParts)
			}
			if st != tc.stmt || ai != tc.info {
				t.Errorf("pieces do not concatenate back to the input")
			}
		})
	}
}
