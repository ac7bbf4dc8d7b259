package store

import (
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

func recordFor(action, class, stmt string, d time.Duration, off int64) audit.Record {
	return audit.Record{
		EventTime: t0.Add(d), ActionID: action, ClassType: class, Succeeded: true,
		ServerInstanceName: "sql01", DatabaseName: "Sales",
		ServerPrincipalName: "mallory", SessionServerPrincipalName: "mallory",
		Statement: stmt, FileName: "f.xel", AuditFileOffset: off,
	}
}
