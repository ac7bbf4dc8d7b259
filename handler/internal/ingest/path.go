package ingest

import (
	"fmt"
	"strings"

	"github.com/xelwatch/xelwatch/handler/internal/auditfile"
)

// Path is what an audit blob's name says about it. Azure SQL writes
// <server>/<database>/<audit>/<date>/<time>_<n>.xel, and read-only replicas
// .../<date>/RO/<file>.xel; on-prem files copied to blob storage may end in
// .sqlaudit.
type Path struct {
	Server   string
	Database string
	Audit    string
	Date     string // folder name, normally yyyy-mm-dd
	ReadOnly bool   // under RO/: written by a read-only replica
	File     string // base name with extension
}

// Stream identifies the sequence of files one audit writes; files of one
// stream roll over, so a newer file closes the older ones.
func (p Path) Stream() string {
	s := p.Server + "/" + p.Database + "/" + p.Audit
	if p.ReadOnly {
		s += "/RO"
	}
	return s
}

// MaxNameLength bounds a blob name (the service's own limit is 1024).
const MaxNameLength = 1024

// ParsePath splits a blob name (relative to the container). Names with
// fewer levels (on-prem files in a folder) leave Server, Database and
// Audit empty: the store then takes server_instance_name and
// database_name from each record.
func ParsePath(name string) (Path, error) {
	if name == "" || len(name) > MaxNameLength {
		return Path{}, fmt.Errorf("ingest: blob name of %d bytes", len(name))
	}
	if !auditfile.IsAuditName(name) {
		return Path{}, fmt.Errorf("ingest: %q is not an audit file (.xel, .sqlaudit)", name)
	}
	parts := strings.Split(strings.Trim(name, "/"), "/")
	var p Path
	p.File = parts[len(parts)-1]
	dirs := parts[:len(parts)-1]
	if n := len(dirs); n > 0 && strings.EqualFold(dirs[n-1], "RO") {
		p.ReadOnly = true
		dirs = dirs[:n-1]
	}
	if len(dirs) >= 4 {
		p.Server, p.Database, p.Audit, p.Date = dirs[0], dirs[1], dirs[2], dirs[3]
		return p, nil
	}
	return p, nil
}

// newer reports whether file b of a stream was started after file a.
// Names are <hh_mm_ss_ms>_<n>: compare the date folder, then the name's
// numeric fields.
func newer(a, b Path) bool {
	if a.Date != b.Date {
		return b.Date > a.Date
	}
	return compareFileNames(b.File, a.File) > 0
}

// compareFileNames orders names by their runs of digits numerically, so
// that 10_0_..._10.xel follows ..._9.xel.
func compareFileNames(a, b string) int {
	for a != "" && b != "" {
		da, ra := leadingDigits(a)
		db, rb := leadingDigits(b)
		switch {
		case da != "" && db != "":
			da, db = strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if len(da) != len(db) {
				return cmpInt(len(da), len(db))
			}
			if c := strings.Compare(da, db); c != 0 {
				return c
			}
			a, b = ra, rb
		default:
			if a[0] != b[0] {
				return cmpInt(int(a[0]), int(b[0]))
			}
			a, b = a[1:], b[1:]
		}
	}
	return cmpInt(len(a), len(b))
}

func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
