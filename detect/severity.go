package detect

import (
	"fmt"
	"strings"
)

// Severity orders findings from informational to critical.
//
// Info is -1 so that the existing severities keep the values stored in
// the Detections table (severity_level 1-4) and the zero Severity stays
// invalid (unset): a Finding without a severity still fails to marshal.
// Compare severities with < and >, and move along the scale with shift,
// never with arithmetic (there is no severity 0 between Info and Low).
type Severity int

// Severities, in increasing order.
const (
	Info Severity = iota - 1 // recorded and queryable; sent only when XELWATCH_NOTIFY_MIN_SEVERITY is informational
	_                        // 0: not a severity
	Low
	Medium
	High
	Critical
)

// severities lists the valid severities in increasing order.
var severities = [...]Severity{Info, Low, Medium, High, Critical}

var severityNames = map[Severity]string{Info: "informational", Low: "low", Medium: "medium", High: "high", Critical: "critical"}

func (s Severity) valid() bool { return s == Info || (s >= Low && s <= Critical) }

func (s Severity) String() string {
	if !s.valid() {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// rank is the place of a valid severity in severities (Info 0, Critical 4).
func (s Severity) rank() int {
	for i, v := range severities {
		if v == s {
			return i
		}
	}
	return 0
}

// shift moves s by n steps along the scale, clamped to Info..Critical.
func (s Severity) shift(n int) Severity {
	return severities[max(0, min(len(severities)-1, s.rank()+n))]
}

// ParseSeverity accepts the names above in any case ("info" for
// informational and "med" for medium too).
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "informational", "info":
		return Info, nil
	case "low":
		return Low, nil
	case "medium", "med":
		return Medium, nil
	case "high":
		return High, nil
	case "critical":
		return Critical, nil
	}
	return 0, fmt.Errorf("detect: unknown severity %q (want informational, low, medium, high or critical)", s)
}

// MarshalText writes the lower-case name.
func (s Severity) MarshalText() ([]byte, error) {
	if !s.valid() {
		return nil, fmt.Errorf("detect: invalid severity %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a name written by MarshalText.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// clampSeverity makes s a valid severity: below the scale Info, above it
// Critical, and the zero Severity (no level given) Low.
func clampSeverity(s Severity) Severity {
	switch {
	case s.valid():
		return s
	case s < Info:
		return Info
	case s > Critical:
		return Critical
	}
	return Low
}
