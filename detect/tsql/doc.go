// Package tsql understands just enough Transact-SQL for the detection
// rules: a lexer that drops comments (line, block and nested block) and
// identifier quotes, a normalizer (lower case outside string literals,
// whitespace collapsed), and small parsers for the statements the catalog
// reasons about: BACKUP/RESTORE (what is copied, every destination, the
// WITH options), CREATE/ALTER/DROP SERVER AUDIT and SERVER/DATABASE AUDIT
// SPECIFICATION (state, groups, predicates, targets), CREATE/ALTER
// CREDENTIAL, and sp_configure calls.
//
// # Security
//
// Statements come from audit records and are untrusted. Input longer than
// MaxStatement bytes is cut (and reported as truncated), at most MaxTokens
// tokens are kept (the first half and the last ones: padding with tokens
// does not hide the end of a statement), and every parser works on the
// bounded token slice:
// malformed or truncated input yields a partial result with Truncated set,
// never a panic. FuzzParse checks this.
package tsql
