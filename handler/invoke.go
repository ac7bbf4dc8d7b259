package handler

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// invokeRequest is the host's invocation body.
type invokeRequest struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// invokeResponse is what the host parses back. Outputs maps output binding
// names to values; Logs lines are logged by the host on 2xx only.
type invokeResponse struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// errBadRequest marks errors caused by the body.
var errBadRequest = errors.New("bad invocation body")

// decodeInvocation parses the body, which readBody has already read
// whole and bounded to MaxBodyBytes.
func decodeInvocation(_ http.ResponseWriter, r *http.Request) (invokeRequest, error) {
	var req invokeRequest
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return req, fmt.Errorf("%w: content type %q, want application/json", errBadRequest, ct)
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if dec.More() {
		return req, fmt.Errorf("%w: data after the JSON object", errBadRequest)
	}
	if req.Data == nil && req.Metadata == nil {
		return req, fmt.Errorf("%w: neither Data nor Metadata", errBadRequest)
	}
	return req, nil
}

// hostString decodes a value the host JSON-encoded once or twice (every
// .NET string in Data and Metadata is serialized with JsonConvert and then
// embedded as a JSON string).
func hostString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("not a JSON string: %.40q", raw)
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var inner string
		if json.Unmarshal([]byte(s), &inner) == nil {
			return inner, nil
		}
	}
	return s, nil
}

// hostInt decodes a number the host sent as a string ("1") or a number.
func hostInt(raw json.RawMessage) (int64, error) {
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	s, err := hostString(raw)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
}

// writeJSON writes v with the Content-Type the host requires (it fails
// any response that is not application/json).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeOK answers a successful invocation. The body is never empty.
func writeOK(w http.ResponseWriter, outputs map[string]any, logs ...string) {
	if outputs == nil {
		outputs = map[string]any{}
	}
	if logs == nil {
		logs = []string{}
	}
	writeJSON(w, http.StatusOK, invokeResponse{Outputs: outputs, Logs: logs})
}

// writeError fails the invocation: the host retries (queue, blob) and
// eventually poisons the message.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"Outputs": map[string]any{}, "Logs": []string{msg}, "error": msg})
}
