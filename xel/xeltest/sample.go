package xeltest

import (
	"strconv"
	"strings"
	"time"
)

// SamplePackage returns a package named name with one event,
// "every_type", whose fields cover every base type that can appear in an
// event payload, a map field ("state", 1-byte keys), a bitmask map field
// ("flags", 4-byte keys) and several actions (fixed and variable types).
// SampleEvent fills it.
func SamplePackage(name string) Package {
	return Package{
		Name:        name,
		Description: "xeltest sample package",
		ID:          MustGUID("0d9b6b9e-3f0c-4a3e-9d7e-5b2f1f0a1c01"),
		Maps: []MapType{
			{Name: "sample_state", Size: 1, Entries: []MapEntry{{0, "IDLE"}, {1, "RUNNING"}, {2, "STOPPED"}}},
			{Name: "sample_flags", Bitmask: true, Size: 4, Entries: []MapEntry{{1, "READ"}, {2, "WRITE"}, {4, "EXEC"}}},
		},
		Actions: []ActionType{
			{Name: "session_id", Description: "Session id", Type: TypeUint16},
			{Name: "client_app_name", Description: "Client application", Type: TypeUnicodeString},
			{Name: "event_sequence", Description: "Sequence", Type: TypeUint64},
			{Name: "attach_activity_id", Description: "Activity", Type: TypeActivityID},
		},
		Events: []EventType{{
			Name:         "every_type",
			Description:  "One field of every base type",
			UUID:         MustGUID("a1b2c3d4-0001-4002-8003-000000000001"),
			Version:      1,
			Customizable: []Customizable{{Name: "collect_text", Type: TypeBoolean, Value: 1, Default: 1}},
			Fields: []FieldType{
				{Name: "f_int8", Type: TypeInt8},
				{Name: "f_int16", Type: TypeInt16},
				{Name: "f_int32", Type: TypeInt32},
				{Name: "f_int64", Type: TypeInt64},
				{Name: "f_uint8", Type: TypeUint8},
				{Name: "f_uint16", Type: TypeUint16},
				{Name: "f_uint32", Type: TypeUint32},
				{Name: "f_uint64", Type: TypeUint64},
				{Name: "f_float32", Type: TypeFloat32},
				{Name: "f_float64", Type: TypeFloat64},
				{Name: "f_cpu_cycle", Type: TypeCPUCycle},
				{Name: "f_filetime", Type: TypeFiletime},
				{Name: "f_ptr", Type: TypePtr},
				{Name: "f_ansi", Type: TypeAnsiString},
				{Name: "f_unicode", Type: TypeUnicodeString},
				{Name: "f_guid", Type: TypeGUID},
				{Name: "f_binary", Type: TypeBinary},
				{Name: "f_callstack", Type: TypeCallstack},
				{Name: "f_activity", Type: TypeActivityID},
				{Name: "f_activity_xfer", Type: TypeActivityIDXfer},
				{Name: "f_bool", Type: TypeBoolean},
				{Name: "f_xml", Type: TypeXML},
				{Name: "f_empty", Type: TypeUnicodeString},
				{Name: "state", Map: "sample_state"},
				{Name: "flags", Map: "sample_flags"},
			},
		}},
	}
}

// SampleEvent returns a deterministic every_type event number i of
// package pkg at time t (with actions when i is even). Field values vary
// with i; f_empty is always a zero-length string.
func SampleEvent(pkg string, i int, t time.Time) Event {
	n := int64(i)
	e := Event{
		Package: pkg,
		Name:    "every_type",
		Time:    t,
		Fields: map[string]any{
			"f_int8":          int8(-(n % 128)),
			"f_int16":         int16(-1000 - n),
			"f_int32":         int32(-100000 - n),
			"f_int64":         int64(-1) << 40 * (n + 1),
			"f_uint8":         uint8(200 + n%50),
			"f_uint16":        uint16(60000 + n%1000),
			"f_uint32":        uint32(4000000000 + n),
			"f_uint64":        uint64(1)<<63 + uint64(n),
			"f_float32":       float32(1.5) * float32(n+1),
			"f_float64":       -2.25 * float64(n+1),
			"f_cpu_cycle":     uint64(123456789) * uint64(n+1),
			"f_filetime":      t.Add(-time.Hour),
			"f_ptr":           uint64(0x00007FF6_12340000) + uint64(n)*16,
			"f_ansi":          "ansi " + strconv.Itoa(i),
			"f_unicode":       "unicode é 日本 😀 " + strconv.Itoa(i),
			"f_guid":          MustGUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
			"f_binary":        []byte{0xDE, 0xAD, 0xBE, 0xEF, byte(i)},
			"f_callstack":     []uint64{0x00007FF612345678, 0x00007FF6ABCDEF00 + uint64(n)},
			"f_activity":      ActivityID{GUID: MustGUID("11111111-2222-3333-4444-555555555555"), Seq: uint32(i + 1)},
			"f_activity_xfer": ActivityID{GUID: MustGUID("66666666-7777-8888-9999-aaaaaaaaaaaa"), Seq: uint32(i)},
			"f_bool":          i%2 == 0,
			"f_xml":           "<a n=\"" + strconv.Itoa(i) + "\">x &amp; y</a>",
			"f_empty":         "",
			"state":           uint8(i % 3),
			"flags":           uint32(i % 8),
		},
	}
	if i%2 == 0 {
		e.Actions = []Action{
			{Name: "session_id", Value: uint16(50 + i%100)},
			{Name: "client_app_name", Value: "app " + strings.Repeat("x", i%5)},
			{Name: "event_sequence", Value: uint64(i)},
			{Name: "attach_activity_id", Value: ActivityID{GUID: MustGUID("11111111-2222-3333-4444-555555555555"), Seq: uint32(i)}},
		}
	}
	return e
}
