// Package sigma evaluates Sigma rules (https://sigmahq.io) over SQL
// Server and Azure SQL audit records, beside the built-in catalog.
//
// Parse reads one rule (YAML bytes; this package reads no files) with
// github.com/bradleyjkemp/sigma-go and validates everything its
// evaluator would otherwise only trip over at run time: unknown fields
// and modifiers, keyword searches, aggregations, placeholders, undefined
// searches in the condition, bad regular expressions. Rules are bounded
// (MaxRuleBytes, MaxSearches, MaxValues, MaxRegexLen, ...). A rule for
// another logsource is a *SkipError: xelwatch evaluates product mssql,
// and windows/application rules that select EventID 33205, the event
// under which SQL Server writes audit records to the Windows Application
// log — SigmaHQ's MSSQL rules run unmodified.
//
// Each record is offered under the fields of such an event (EventID
// 33205, Provider_Name, Channel, Computer, and Data: the record rendered
// as SQL Server writes it, see Render33205) and under every audit column
// name (action_id, server_principal_name, statement, ...). Fields are
// computed only when a rule that may match reads them.
//
// A Set is a detect.Extension: the application adds it to the engine
// (detect.Engine.WithExtensions), so matches are findings with the rule
// id "SIG-<sigma id>", the rule's title, level (informational maps to
// low) and first ATT&CK technique tag, the record as evidence and a
// replay-stable detection id (detect.RecordFinding).
//
// # Performance
//
// sigma-go evaluates every search of a rule and lower-cases the field
// value for each comparison. A prefilter derived from each rule's
// literals (a field value that contains, starts with, ends with or
// equals a string) skips rules none of whose literals occurs in the
// record, folding each field at most once per record. Measure with
//
//	go test ./detect/sigma -run '^$' -bench . -benchmem -cpu 1
package sigma
