package store

import (
	"strings"
	"testing"
)

func TestNamesValidate(t *testing.T) {
	tests := []struct {
		name    string
		names   Names
		wantErr string
	}{
		{"defaults", defaultNames(), ""},
		{"custom", Names{Events: "ev1", Cursors: "Cur2", Detections: "det3"}, ""},
		{"too short", Names{Events: "ev", Cursors: "cur", Detections: "det"}, "XELWATCH_EVENTS_TABLE"},
		{"leading digit", Names{Events: "1ev", Cursors: "cur", Detections: "det"}, "XELWATCH_EVENTS_TABLE"},
		{"dash", Names{Events: "ev1", Cursors: "cur-x", Detections: "det"}, "XELWATCH_CURSORS_TABLE"},
		{"reserved", Names{Events: "ev1", Cursors: "cur", Detections: "Tables"}, "XELWATCH_DETECTIONS_TABLE"},
		{"too long", Names{Events: "e" + strings.Repeat("v", 63), Cursors: "cur", Detections: "det"}, "XELWATCH_EVENTS_TABLE"},
		{"same", Names{Events: "abc", Cursors: "abc", Detections: "det"}, "must differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.names.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	svc, err := NewServiceClientFromConnectionString("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
		"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
		"TableEndpoint=http://127.0.0.1:1/devstoreaccount1;")
	if err != nil {
		t.Fatal(err)
	}
	if got := New(svc, Names{Cursors: "MyCursors"}).Names(); got != (Names{Events: "AuditEvents", Cursors: "MyCursors", Detections: "Detections"}) {
		t.Fatalf("Names() = %+v", got)
	}
	if _, err := NewServiceClientFromConnectionString("UseDevelopmentStorage=true"); err == nil {
		t.Fatal("UseDevelopmentStorage=true accepted; the SDK cannot use it")
	}
}
