package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/detect/sigma"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/sigmarules"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// TestWithSigma: the engine the app builds runs the Sigma rules, also
// through the Deferred the pipeline evaluates each batch with, and logs
// what was loaded and skipped.
func TestWithSigma(t *testing.T) {
	r, err := sigma.Parse("x.yml", []byte("title: shell (test)\nid: t-1\nlevel: high\nlogsource:\n    product: mssql\ndetection:\n    s:\n        object_name: xp_cmdshell\n    condition: s\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := detect.New(detect.DefaultConfig(), detect.NewMemoryState())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	eng, err := withSigma(context.Background(), e, &sigmarules.Rules{Rules: []*sigma.Rule{r}, Skipped: []string{"y.yml: logsource linux"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	var ev ingest.Evaluator = eng
	de, ok := ev.(ingest.DeferringEvaluator)
	if !ok {
		t.Fatal("the engine with Sigma rules is no longer a DeferringEvaluator")
	}
	rec := &audit.Record{EventTime: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), ActionID: "EX", ObjectName: "xp_cmdshell",
		Statement: "EXEC xp_cmdshell 'dir'", ServerPrincipalName: "eve", FileName: "f.xel"}
	for name, eval := range map[string]ingest.Evaluator{"engine": eng, "deferred": de.Deferred()} {
		fs, err := eval.Evaluate(context.Background(), rec)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range fs {
			if f.Rule == "SIG-t-1" && f.Severity == detect.High {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: findings %+v", name, fs)
		}
	}
	for _, want := range []string{`"msg":"Sigma rules loaded","rules":1,"skipped":1`, `"msg":"Sigma rule skipped","reason":"y.yml: logsource linux"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
	// Without rules the engine is the one given.
	if same, err := withSigma(context.Background(), e, nil, log); err != nil || same != e {
		t.Errorf("no rules: %p %p %v", same, e, err)
	}
}
