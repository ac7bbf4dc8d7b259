package notify_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/xelwatch/xelwatch/handler/internal/notify"
)

// A receiver of the generic webhook checks the signature before trusting
// the body.
func ExampleVerify() {
	secret := []byte("shared-secret")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		if err := notify.Verify(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Deduplicate on r.Header.Get(notify.HeaderDetectionID), then act.
		w.WriteHeader(http.StatusNoContent)
	})

	body := `{"detection_id":"d1"}`
	ts := fmt.Sprint(time.Now().Unix())
	for _, sig := range []string{notify.Sign(secret, ts, []byte(body)), "sha256=00"} {
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		req.Header.Set(notify.HeaderTimestamp, ts)
		req.Header.Set(notify.HeaderSignature, sig)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 204
	// 401
}
