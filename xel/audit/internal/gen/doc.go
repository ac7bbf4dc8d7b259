// Command gen turns the audit reference tables (xel/audit/reference/*.csv)
// into xel/audit/tables_gen.go, so the audit package carries the facts as
// Go tables and reads no file at run time.
//
// Usage (from xel/audit, see the go:generate line in tables.go):
//
//	go run ./internal/gen -ref reference -out tables_gen.go
package main
