package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const value = "https://hooks.example/services/T0/B0/TOPSECRETTOKEN?sig=TOPSECRETSIG"

// holder reaches the Secret through exported fields, the way a settings
// struct does.
type holder struct {
	URL    Secret
	Ptr    *Secret
	List   []Secret
	Nested struct{ Key Secret }
}

func newHolder() holder {
	s := Secret(value)
	h := holder{URL: s, Ptr: &s, List: []Secret{s, s}}
	h.Nested.Key = s
	return h
}

// TestRedacted checks every path by which a Secret could be printed,
// logged or encoded: none may contain the value, and each must show that
// something was there.
func TestRedacted(t *testing.T) {
	t.Parallel()
	s := Secret(value)
	h := newHolder()
	paths := map[string]func() string{
		"String":   s.String,
		"GoString": s.GoString,
		"Sprint":   func() string { return fmt.Sprint(s, &s) },
		"Sprintln": func() string { return fmt.Sprintln(s) },
		"Errorf":   func() string { return fmt.Errorf("sending to %v: %s", s, s).Error() },
		"struct":   func() string { return fmt.Sprintf("%v|%+v|%#v|%s", h, h, h, h) },
		"map":      func() string { return fmt.Sprintf("%v|%#v", map[string]Secret{"k": s}, map[string]Secret{"k": s}) },
		"slog/json": func() string {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "s", s, "p", &s, "h", h,
				slog.Group("g", slog.Any("s", s)))
			return buf.String()
		},
		"slog/text": func() string {
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "s", s, "p", &s, "h", h,
				slog.Group("g", slog.Any("s", s)))
			return buf.String()
		},
		"json": func() string {
			b, err := json.Marshal(map[string]any{"s": s, "p": &s, "h": h, "m": map[string]Secret{"k": s}})
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		},
		"MarshalText": func() string {
			b, err := s.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		},
	}
	// Every fmt verb that applies to a string, with flags, widths and
	// precisions (go vet reports the others).
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%#q", "%+q", "%x", "%X", "% x", "%#x", "%-40v", "%40s", "%.20s"} {
		paths["fmt "+f] = func() string { return fmt.Sprintf(f+"|"+f, s, &s) }
	}
	for name, p := range paths {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := p()
			if strings.Contains(out, "TOPSECRET") || strings.Contains(out, "hooks.example") {
				t.Fatalf("leaks the value: %s", out)
			}
			if !strings.Contains(out, "[redacted]") && !strings.Contains(strings.ToLower(strings.ReplaceAll(out, " ", "")), "5b72656461637465645d") {
				t.Fatalf("does not show the redaction marker: %s", out)
			}
		})
	}
}

func TestFormatExact(t *testing.T) {
	t.Parallel()
	s := Secret(value)
	for _, tc := range []struct{ format, want string }{
		{"%v", "[redacted]"},
		{"%s", "[redacted]"},
		{"%+v", "[redacted]"},
		{"%#v", `redact.Secret("[redacted]")`},
		{"%q", `"[redacted]"`},
		{"%12s", "  [redacted]"},
		{"%.4s", "[red"},
	} {
		if got := fmt.Sprintf(tc.format, s); got != tc.want {
			t.Errorf("Sprintf(%q) = %q, want %q", tc.format, got, tc.want)
		}
	}
	b, err := json.Marshal(struct{ S Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"S":"[redacted]"}`; got != want {
		t.Errorf("json = %s, want %s", got, want)
	}
	if got, want := s.LogValue(), slog.StringValue("[redacted]"); !got.Equal(want) {
		t.Errorf("LogValue = %v, want %v", got, want)
	}
}

// TestEmpty: an unset secret prints empty, so "unset" stays visible.
func TestEmpty(t *testing.T) {
	t.Parallel()
	var s Secret
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{
		"String":   s.String(),
		"%v":       fmt.Sprintf("%v", s),
		"LogValue": s.LogValue().String(),
		"json":     string(b),
	} {
		want := ""
		if name == "json" {
			want = `""`
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestReveal(t *testing.T) {
	t.Parallel()
	if got := Secret(value).Reveal(); got != value {
		t.Fatalf("Reveal = %q, want %q", got, value)
	}
}
