package detect

import (
	"testing"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// TestCausalView: what a record sees of entries of its own file.
func TestCausalView(t *testing.T) {
	r := audit.Record{FileName: "f@1.xel", AuditFileOffset: 8192, EventIndex: 2}
	split := r
	split.Parts = []audit.Record{{AuditFileOffset: 8192, EventIndex: 2}, {AuditFileOffset: 12288, EventIndex: 0}}
	m, ms := &matcher{rec: &r}, &matcher{rec: &split}
	tests := []struct {
		e            Entry
		sees, splitS bool
	}{
		{Entry{ID: "f@1.xel@8192#1"}, true, true},
		{Entry{ID: "f@1.xel@8192#2"}, true, true}, // itself
		{Entry{ID: "f@1.xel@8192#3"}, false, true},
		{Entry{ID: "f@1.xel@12288#0"}, false, false},
		{Entry{ID: "f@1.xel@4096#0", Last: Place{Offset: 12288}}, false, false}, // a split record completed later
		{Entry{ID: "f@1.xel@4096#0", Last: Place{Offset: 8192, Index: 1}}, true, true},
		{Entry{ID: "g.xel@99999#0"}, true, true},       // another file
		{Entry{ID: "f@1.xel@9x#0"}, true, true},        // not a record id of this file
		{Entry{ID: "f@1.xel@1#2@99999#0"}, true, true}, // another file whose name extends this one's
		{Entry{ID: "f@1.xel@99999#0#1"}, true, true},   // malformed
		{Entry{ID: "f@1.xel@99999999999999999999#0"}, true, true},
	}
	for _, tt := range tests {
		if got := m.sees(&tt.e); got != tt.sees {
			t.Errorf("record sees %s (last %v) = %v, want %v", tt.e.ID, tt.e.Last, got, tt.sees)
		}
		if got := ms.sees(&tt.e); got != tt.splitS {
			t.Errorf("split record sees %s (last %v) = %v, want %v", tt.e.ID, tt.e.Last, got, tt.splitS)
		}
	}
}
