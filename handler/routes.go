package handler

import "net/http"

// addRoutes lists the whole surface: one POST route per folder under
// functions/ (TestRoutesMatchFunctionFolders keeps them in step), and a
// cheap GET / for the host's readiness and ping probes.
func addRoutes(mux *http.ServeMux, d Deps) {
	mux.Handle("POST /"+FuncAuditBlob, invocation(d, FuncAuditBlob, handleAuditBlob(d)))
	mux.Handle("POST /"+FuncAuditSweep, invocation(d, FuncAuditSweep, handleAuditSweep(d)))
	mux.Handle("POST /"+FuncNotifier, invocation(d, FuncNotifier, handleNotifier(d)))
	mux.Handle("POST /"+FuncAuditControl, invocation(d, FuncAuditControl, handleAuditControl(d)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}
