// Command gen turns the audit reference tables (shared/audit-reference/
// *.csv) into xel/audit/tables_gen.go, so the audit package carries the
// facts without reading ../shared at build or run time.
//
// Usage (from xel/audit, see the go:generate line in tables.go):
//
//	go run ./internal/gen -ref ../../../shared/audit-reference -out tables_gen.go
package main
