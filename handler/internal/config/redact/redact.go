package redact

import "log/slog"

// Secret is a string that prints as "[redacted]" everywhere the value
// could leak by accident: fmt with every verb that applies to a string
// (%v, %+v, %#v, %s, %q, %x, %X, with any flags, width and precision),
// slog (LogValue), and JSON, XML or any other encoding that uses
// encoding.TextMarshaler. An empty Secret prints empty, so an unset
// setting stays visible as unset. Reveal returns the value, for the one
// place that uses it.
//
// Limits, both of fmt: a verb that does not apply to a string (%d, %p)
// prints the raw value inside its %!d(…) error text, and go vet reports
// such a call (Secret deliberately does not implement fmt.Formatter,
// which would silence vet while %p would still leak); and fmt does not
// call methods on unexported struct fields, so a struct that keeps a
// Secret in an unexported field (a notify channel) must not itself be
// printed. Through exported fields a Secret is redacted.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer: "[redacted]", or "" when s is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer with the redacted value.
func (s Secret) GoString() string { return `redact.Secret("` + s.String() + `")` }

// LogValue implements slog.LogValuer with the redacted value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler with the redacted value,
// which keeps secrets out of JSON (encoding/json uses it) and other
// encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
