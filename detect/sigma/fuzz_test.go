package sigma

import (
	"context"
	"testing"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// FuzzParse: any bytes give a rule, a skip or an error, never a panic;
// a rule accepted evaluates over records without an evaluation error
// (Parse rejects what the evaluator cannot do).
func FuzzParse(f *testing.F) {
	f.Add([]byte(ruleXPCmdshell))
	f.Add([]byte(ruleSysadmin))
	f.Add([]byte("title: t\nlogsource:\n    product: mssql\ndetection:\n    a:\n        statement|re: 'x+'\n    b:\n        client_ip|cidr: 10.0.0.0/8\n    c:\n        session_id|gt: 5\n    condition: 1 of a or (b and not c) or all of them\n"))
	f.Add([]byte("title: t\nlogsource:\n    product: mssql\ndetection:\n    s:\n        - statement|base64|contains: x\n        - object_name: null\n    condition: all of s*\n"))
	recs := []*recordCase{
		{rec("EX", "xp_cmdshell", "EXEC xp_cmdshell 'x'")},
		{rec("APRL", "sysadmin", "ALTER SERVER ROLE sysadmin ADD MEMBER x")},
		{rec("", "", "")},
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		r, err := Parse("fuzz.yml", src)
		if err != nil {
			return
		}
		var failed error
		s, err := NewSet([]*Rule{r}, Options{OnError: func(_ string, err error) { failed = err }})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range recs {
			if _, err := s.Evaluate(context.Background(), c.r); err != nil || failed != nil {
				t.Fatalf("accepted rule fails: %v %v\n%s", err, failed, src)
			}
		}
	})
}

type recordCase struct{ r *audit.Record }
