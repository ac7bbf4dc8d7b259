package notify

import "log/slog"

// Secret is a string that must not reach logs or error messages: a webhook
// URL with a token in it, or an HMAC key. It prints as "[redacted]"
// (fmt, slog); use Reveal for the value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer with a redacted value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer with a redacted value (%#v).
func (s Secret) GoString() string { return `notify.Secret("` + s.String() + `")` }

// LogValue implements slog.LogValuer with a redacted value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps secrets out of JSON and text encodings too.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
