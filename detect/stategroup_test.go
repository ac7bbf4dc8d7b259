package detect

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xelwatch/xelwatch/xel/audit"
)

// TestStateGroupOfFailedLogins: every state key a failed login of one
// address writes — the windows and the claims of the rules that fired
// on them — falls in that server's and address's group, and no key of
// another address or of the other rules does.
func TestStateGroupOfFailedLogins(t *testing.T) {
	ctx := context.Background()
	st := &recordingState{State: NewMemoryState()}
	e, err := New(DefaultConfig(), st)
	if err != nil {
		t.Fatal(err)
	}
	info := func(code int) func(*audit.Record) {
		return func(r *audit.Record) {
			r.AdditionalInformation = fmt.Sprintf("<action_info><error_code>%d</error_code><error_state>8</error_state></action_info>", code)
		}
	}
	var recs []audit.Record
	for i := range 16 { // past every threshold: brute force, spray, repeats, credential errors
		user := "user0"
		if i >= 10 {
			user = fmt.Sprintf("user%d", i)
		}
		recs = append(recs, rec("LGIF", "LX", "", failed, ip("203.0.113.7"), by(user), at(time.Duration(i)*time.Second), info(18456)))
	}
	for i := range 4 { // firewall refusals
		recs = append(recs, rec("LGIF", "LX", "", failed, ip("203.0.113.7"), by("user0"), at(time.Duration(30+i)*time.Second), info(40615)))
	}
	recs = append(recs,
		rec("LGIF", "LX", "", failed, ip("198.51.100.9"), by("user0"), at(40*time.Second), info(18456)),
		rec("BCM", "", "BACKUP DATABASE db TO URL = 'https://x.blob.core.windows.net/c/db.bak' WITH COPY_ONLY", at(50*time.Second)))
	fired := map[string]bool{}
	for i := range recs {
		recs[i].AuditFileOffset = int64(i) * 512 // one record each
		fs, err := e.Evaluate(ctx, &recs[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			fired[f.Rule] = true
		}
	}
	for _, r := range []string{"AUTH-001", "AUTH-002", "AUTH-007", "AUTH-008", "AUTH-009", "AUTH-010"} {
		if !fired[r] {
			t.Fatalf("%s did not fire (%v): the test would not see its keys", r, fired)
		}
	}
	srv := strings.ToLower(recs[0].ServerInstanceName)
	grouped := 0
	keys := map[string]bool{}
	for _, k := range st.writes {
		keys[k] = true
	}
	for key := range keys {
		g := StateGroup(key)
		switch {
		case strings.Contains(key, "203.0.113.7") && !strings.HasPrefix(key, "attack|") && !strings.HasPrefix(key, "base-"):
			if g != srv+"|203.0.113.7" {
				t.Errorf("%q: group %q, want %q", key, g, srv+"|203.0.113.7")
			}
			grouped++
		case strings.Contains(key, "198.51.100.9") && !strings.HasPrefix(key, "base-"):
			if g != srv+"|198.51.100.9" {
				t.Errorf("%q: group %q, want the other address's", key, g)
			}
		default:
			if g != "" {
				t.Errorf("%q: group %q, want none", key, g)
			}
		}
	}
	if grouped < 10 {
		t.Errorf("%d keys of the address grouped, want at least 10 (windows and claims): %v", grouped, keys)
	}
	for key, want := range map[string]string{"": "", "fail": "", "fail|srv": "", "fired|exf-001|srv|x": "", "fired|exe-012|s|a|p": "s|a", "spray|s|a": "s|a"} {
		if got := StateGroup(key); got != want {
			t.Errorf("StateGroup(%q) = %q, want %q", key, got, want)
		}
	}
}
