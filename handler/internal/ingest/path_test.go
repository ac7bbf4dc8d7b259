package ingest

import "testing"

func TestParsePath(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		want    Path
		wantErr bool
	}{
		{name: "srv/db/aud/2026-11-21/20_31_39_123_0.xel", want: Path{Server: "srv", Database: "db", Audit: "aud", Date: "2026-11-21", File: "20_31_39_123_0.xel"}},
		{name: "srv/db/aud/2026-11-21/RO/20_31_39_123_0.xel", want: Path{Server: "srv", Database: "db", Audit: "aud", Date: "2026-11-21", ReadOnly: true, File: "20_31_39_123_0.xel"}},
		{name: "srv/master/aud/2026-11-21/x.SQLAUDIT", want: Path{Server: "srv", Database: "master", Audit: "aud", Date: "2026-11-21", File: "x.SQLAUDIT"}},
		{name: "MSSQL/Audit/Audit_1_0_133.sqlaudit", want: Path{File: "Audit_1_0_133.sqlaudit"}},
		{name: "flat.xel", want: Path{File: "flat.xel"}},
		{name: "srv/db/aud/2026-11-21/notes.txt", wantErr: true},
		{name: "", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePath(tc.name)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNewerFile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		a, b Path
		want bool
	}{
		{Path{Date: "2026-11-20", File: "23_59_59_999_0.xel"}, Path{Date: "2026-11-21", File: "00_00_00_000_0.xel"}, true},
		{Path{Date: "2026-11-21", File: "10_00_00_000_9.xel"}, Path{Date: "2026-11-21", File: "10_00_00_000_10.xel"}, true},
		{Path{Date: "2026-11-21", File: "10_00_00_000_10.xel"}, Path{Date: "2026-11-21", File: "10_00_00_000_9.xel"}, false},
		{Path{Date: "2026-11-21", File: "x.xel"}, Path{Date: "2026-11-21", File: "x.xel"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.a.File+"<"+tc.b.File, func(t *testing.T) {
			if got := newer(tc.a, tc.b); got != tc.want {
				t.Errorf("newer(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}
