package xel

// Benchmarks. Command:
//
//	go test ./xel -run '^$' -bench . -benchtime 2s -count 1
//
// MB/s and events/s are per wall second; cpu-MB/s and cpu-events/s per
// CPU second of the process, which is the fairer number on a busy
// machine. allocs/event counts every allocation in the loop, metadata
// parsing included (fixtures carry large metadata and few events).
//
// BenchmarkDecode*/fixtures decodes all 15 fixtures per iteration (when
// present); */audit decodes a synthetic 4 MiB file of audit-sized events
// (40 fields like SQL Server Audit's audit_event, ~1 KiB each).

import (
	"bytes"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/xeltest/fixtures"
)

// auditLikeFile builds a file of n audit_event-like records with 40
// fields: integers, booleans, a filetime, a GUID, binaries and strings.
func auditLikeFile(n int) []byte {
	type f struct {
		name string
		typ  BaseType
	}
	spec := []f{
		{"event_time", TypeFiletime}, {"sequence_number", TypeInt32}, {"action_id", TypeUint32},
		{"succeeded", TypeBoolean}, {"permission_bitmask", TypeBinary}, {"is_column_permission", TypeBoolean},
		{"session_id", TypeUint16}, {"server_principal_id", TypeInt32}, {"database_principal_id", TypeInt32},
		{"target_server_principal_id", TypeInt32}, {"target_database_principal_id", TypeInt32},
		{"object_id", TypeInt32}, {"class_type", TypeUint16}, {"session_server_principal_name", TypeUnicodeString},
		{"server_principal_name", TypeUnicodeString}, {"server_principal_sid", TypeBinary},
		{"database_principal_name", TypeUnicodeString}, {"target_server_principal_name", TypeUnicodeString},
		{"target_server_principal_sid", TypeBinary}, {"target_database_principal_name", TypeUnicodeString},
		{"server_instance_name", TypeUnicodeString}, {"database_name", TypeUnicodeString},
		{"schema_name", TypeUnicodeString}, {"object_name", TypeUnicodeString}, {"statement", TypeUnicodeString},
		{"additional_information", TypeUnicodeString}, {"user_defined_event_id", TypeInt16},
		{"user_defined_information", TypeUnicodeString}, {"audit_schema_version", TypeInt32},
		{"sequence_group_id", TypeBinary}, {"transaction_id", TypeInt64}, {"client_ip", TypeUnicodeString},
		{"application_name", TypeUnicodeString}, {"duration_milliseconds", TypeInt64},
		{"response_rows", TypeInt64}, {"affected_rows", TypeInt64}, {"connection_id", TypeGUID},
		{"data_sensitivity_information", TypeUnicodeString}, {"host_name", TypeUnicodeString},
		{"session_context", TypeUnicodeString},
	}
	var fields []tField
	off := 0
	for _, s := range spec {
		fields = append(fields, tField{s.name, typeRID(s.typ), uint16(off)})
		size, _ := defaultTypeSize(s.typ)
		if size == 0 {
			size = 8
		}
		off += int(size)
	}
	fixed := off
	pkg := tPkg{index: 1, name: "SecAudit", start: start2020, freq: 10_000_000,
		events: []tEvent{{idx: 0, name: "audit_event", fields: fields}}}
	texts := map[string]string{
		"statement":              "SELECT c.CustomerID, c.Name, o.OrderDate FROM Sales.Customers AS c JOIN Sales.Orders AS o ON o.CustomerID = c.CustomerID WHERE o.OrderDate >= @from AND c.Region = N'Zürich' ORDER BY o.OrderDate DESC;",
		"additional_information": "<tsql_stack><frame nest_level = '1' database_name = 'sales' schema_name = 'dbo' object_name = 'usp_report'/></tsql_stack>",
		"server_principal_name":  "CONTOSO\\alice",
		"client_ip":              "10.1.2.3",
		"application_name":       "Microsoft SQL Server Management Studio - Query",
		"database_name":          "sales",
		"host_name":              "WS-ALICE-01",
	}
	var records [][]byte
	var bufs [][]byte
	size := 0
	flush := func() {
		if len(records) > 0 {
			bufs = append(bufs, eventBuffer(records...))
			records, size = nil, 0
		}
	}
	for i := range n {
		p := newPayload(fixed)
		for j, s := range spec {
			o := int(fields[j].offset)
			switch s.typ {
			case TypeUnicodeString:
				t, ok := texts[s.name]
				if !ok {
					t = s.name + "_value"
				}
				p.vardata(o, utf16le(t))
			case TypeBinary:
				p.vardata(o, []byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, byte(i)})
			case TypeGUID:
				p.vardata(o, testGUID)
			case TypeFiletime:
				p.u64(o, start2020+uint64(i)*10_000)
			case TypeBoolean:
				p.u8(o, 1)
			case TypeInt16, TypeUint16:
				p.u16(o, uint16(i))
			case TypeInt32, TypeUint32:
				p.u32(o, uint32(i*7))
			default:
				p.u64(o, uint64(i)*1_000_003)
			}
		}
		r := record(rid(ridKindEvent, 1, 0), uint64(i)*10_000, p.b, nil)
		if size+len(r) > 64<<10 {
			flush()
		}
		records = append(records, r)
		size += len(r)
	}
	flush()
	return xelFile(append([][]byte{metadataBuffer(package0(), pkg)}, bufs...)...)
}

type benchInput struct {
	name  string
	files [][]byte
}

func benchInputs(b *testing.B) []benchInput {
	inputs := []benchInput{{"audit", [][]byte{auditLikeFile(4000)}}}
	var fx [][]byte
	for _, f := range fixtures.Files(quietB{b}) {
		fx = append(fx, readFixture(b, f))
	}
	if len(fx) > 0 {
		inputs = append(inputs, benchInput{"fixtures", fx})
	}
	return inputs
}

type quietB struct{ *testing.B }

func (quietB) Skipf(string, ...any)  {}
func (quietB) Fatalf(string, ...any) {}

func benchDecode(b *testing.B, in benchInput, withJSON bool) {
	var total int64
	for _, f := range in.files {
		total += int64(len(f))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	var out []byte
	var events int
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		for _, f := range in.files {
			r, err := NewReaderAt(bytes.NewReader(f), int64(len(f)), nil)
			if err != nil {
				b.Fatal(err)
			}
			for {
				ev, err := r.Next()
				if err != nil {
					break
				}
				events++
				if withJSON {
					out = ev.AppendJSON(out[:0])
				}
			}
		}
	}
	b.StopTimer()
	cpu := (cpuTime() - cpu0).Seconds()
	runtime.ReadMemStats(&ms1)
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(events)/sec, "events/s")
	// On a shared machine wall time overstates the cost: also report
	// throughput per CPU second of the process (GC included).
	if cpu > 0 {
		b.ReportMetric(float64(total)*float64(b.N)/cpu/1e6, "cpu-MB/s")
		b.ReportMetric(float64(events)/cpu, "cpu-events/s")
	}
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(events), "allocs/event")
}

func BenchmarkDecode(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run(in.name, func(b *testing.B) { benchDecode(b, in, false) })
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run(in.name, func(b *testing.B) { benchDecode(b, in, true) })
	}
}

func TestAuditLikeFile(t *testing.T) {
	// The benchmark input must itself decode: 4000 events, 40 fields each.
	f := auditLikeFile(4000)
	r, err := NewReaderAt(bytes.NewReader(f), int64(len(f)), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ev, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.Fields) != 40 {
			t.Fatalf("event %d has %d fields", n, len(ev.Fields))
		}
		if v, _ := ev.Field("sequence_number"); v.Int() != int64(n*7) {
			t.Fatalf("event %d: sequence_number = %d", n, v.Int())
		}
		n++
	}
	if n != 4000 {
		t.Errorf("got %d events, want 4000", n)
	}
	t.Logf("audit-like file: %d bytes", len(f))
}

// cpuTime is the user+system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestSteadyStateAllocs(t *testing.T) {
	// After the metadata and the first buffer, decoding and writing JSON
	// allocate nothing: the buffer, the Event and the output are reused.
	f := auditLikeFile(2000)
	r, err := NewReaderAt(bytes.NewReader(f), int64(len(f)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	step := func() {
		ev, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		out = ev.AppendJSON(out[:0])
	}
	for range 200 {
		step()
	}
	allocs := testing.AllocsPerRun(1000, step)
	if allocs != 0 {
		t.Errorf("%.3f allocations per event in steady state, want 0", allocs)
	}
}
