// Package jsonx appends JSON strings to a byte slice without
// encoding/json: nothing is allocated beyond the slice's growth. It is the
// one JSON string escaper of this module; its users differ in what they
// escape beyond what JSON requires, and say so with Flags:
//
//   - xel writes strings as XELite does: Flags(0);
//   - xel/audit (Record.AppendJSON) escapes U+2028/U+2029 and an invalid
//     byte, and writes \u0008 and \u000c;
//   - handler/internal/store escapes as json.Marshal does (EncodingJSON),
//     so that the sizes it counts are those of the JSON the SDK sends.
//
// Every mode writes valid JSON whatever the input: '"', '\\' and the C0
// controls are always escaped, and each byte of s that is not part of a
// valid UTF-8 sequence becomes U+FFFD.
package jsonx
