package audit

import (
	"encoding/xml"
	"strconv"
	"strings"
)

// AdditionalInfo is what ParseAdditionalInformation finds in the XML of
// additional_information: error details of failed logins and the T-SQL
// stack of statements run from modules.
type AdditionalInfo struct {
	ErrorCode     int    // <error_code>, 0 when absent
	ErrorState    int    // <error_state>
	HasError      bool   // an <error_code> element was present
	FailureReason string // <failure_reason> text, e.g. "Err 18456, Level 14, State 8 ..."
	Address       string // <address>: client address of a login
	Frames        []StackFrame
}

// StackFrame is one <frame> of a <tsql_stack>.
type StackFrame struct {
	NestLevel    int
	DatabaseName string
	SchemaName   string
	ObjectName   string
}

// maxAddInfoTokens bounds the XML tokens ParseAdditionalInformation
// looks at; maxFrames the frames it keeps.
const (
	maxAddInfoTokens = 10000
	maxFrames        = 64
)

// ParseAdditionalInformation extracts error and stack details from an
// additional_information value. The text is untrusted and often not a
// single well-formed document (fragments, or XML truncated at 4000
// characters): parsing stops at the first syntax error and returns what
// was found before it; it never fails.
func ParseAdditionalInformation(s string) AdditionalInfo {
	var ai AdditionalInfo
	if !strings.Contains(s, "<") {
		return ai
	}
	d := xml.NewDecoder(strings.NewReader("<r>" + s + "</r>"))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	var text strings.Builder
	for range maxAddInfoTokens {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			text.Reset()
			if t.Name.Local == "frame" && len(ai.Frames) < maxFrames {
				var f StackFrame
				for _, a := range t.Attr {
					v := strings.TrimSpace(a.Value)
					switch a.Name.Local {
					case "nest_level":
						f.NestLevel, _ = strconv.Atoi(v)
					case "database_name":
						f.DatabaseName = v
					case "schema_name":
						f.SchemaName = v
					case "object_name":
						f.ObjectName = v
					}
				}
				ai.Frames = append(ai.Frames, f)
			}
		case xml.CharData:
			if text.Len() < 4096 {
				text.Write(t)
			}
		case xml.EndElement:
			v := strings.TrimSpace(text.String())
			switch t.Name.Local {
			case "error_code":
				ai.ErrorCode, _ = strconv.Atoi(v)
				ai.HasError = true
			case "error_state":
				ai.ErrorState, _ = strconv.Atoi(v)
			case "failure_reason":
				ai.FailureReason = v
			case "address":
				ai.Address = v
			}
			text.Reset()
		}
	}
	return ai
}
