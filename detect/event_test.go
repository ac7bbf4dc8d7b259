package detect

import (
	"testing"

	"github.com/xelwatch/xelwatch/xel/audit"
)

func TestHints(t *testing.T) {
	tests := []struct {
		stmt string
		want uint16
	}{
		{"SELECT * FROM dbo.Orders WHERE id = @p0", 0},
		{"EXEC sp_executesql N'SELECT 1'", 0},
		{"EXEC sp_configure 'xp_cmdshell', 1", hintProc},
		{"exec master..XP_DIRTREE 'c:\\'", hintProc},
		{"SELECT 'x' + 'p_cmdshell'", hintProc},
		{"SELECT 'xp' + '_cmdshell'", hintProc},
		{"SELECT * FROM OPENROWSET(BULK 'https://a/b')", hintURL},
		{`EXEC xp_fileexist '\\host\s'`, hintProc | hintUNC},
		{"SELECT NCHAR (120) + CHAR(112)", hintChar},
		{"SELECT 0x7870", hintHex},
		{"DROP TABLE dbo.t", hintDrop},
		{"drop/**/table t", hintDrop},
		{"TRUNCATE  TABLE t", hintDrop},
		{"DROP INDEX ix ON t", 0},
		{"SELECT backdrop FROM table1", 0},
		{"ALTER ROLE db_owner ADD\tMEMBER bob", hintMember | hintWord}, // "member" is PRV-008's word
		{"SELECT * FROM t WHERE id = 1 OR 1=1", hintInject},
		{"SELECT * FROM t WHERE a = '' OR 'x' > 'w'", hintInject},
		{"SELECT * FROM t WHERE name = 'admin'--'", hintInject},
		{"SELECT * FROM t WHERE name = 'O'Brien'", hintInject},
		{"SELECT * FROM t1 WHERE c1=1 AND t2.c2 >= 3", 0},
		{"SELECT * FROM t WHERE x <> @p1 AND id1=@p2", 0},
		{"EXECUTE AS LOGIN = 'sa'", hintExecute},
		{"EXEC   AS USER = 'dbo'", hintExecute},
		{"EXEC dbo.asp", 0},
	}
	for _, tt := range tests {
		t.Run(tt.stmt, func(t *testing.T) {
			ev := Event{rec: &audit.Record{Statement: tt.stmt}}
			if got := ev.hints(); got != tt.want {
				t.Errorf("hints = %08b, want %08b", got, tt.want)
			}
		})
	}
}
