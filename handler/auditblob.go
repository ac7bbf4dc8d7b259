package handler

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
	"github.com/xelwatch/xelwatch/handler/internal/queuemsg"
)

// handleAuditBlob continues the blob the host announces. The host's Data
// (a deferred-binding descriptor, or base64 bytes if someone configured
// dataType binary) is ignored: the pipeline reads from the cursor by range.
func handleAuditBlob(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		req, err := decodeInvocation(w, r)
		if err != nil {
			d.Log.WarnContext(ctx, "bad AuditBlob body", "err", err.Error())
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		name, err := blobName(req, d.Container)
		if err != nil {
			d.Log.WarnContext(ctx, "bad AuditBlob metadata", "err", err.Error())
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		res, err := d.Ingester.Ingest(ctx, name, ingest.RunOptions{Owner: r.Header.Get("X-Azure-Functions-InvocationId")})
		if err != nil {
			d.Log.ErrorContext(ctx, "ingest failed; the host will retry", "blob", name, "err", err.Error())
			writeError(w, http.StatusInternalServerError, "ingest "+name+": transient failure, retry")
			return
		}
		outputs, err := detectionOutputs(res.Findings)
		if err != nil {
			d.Log.ErrorContext(ctx, "encode detections", "err", err.Error())
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeOK(w, outputs, fmt.Sprintf("%s: %s, %d rows, %d detections", name, res.Outcome, res.Rows, len(res.Findings)))
	})
}

// detectionOutputs is the queue output binding's value: an array of JSON
// objects gives one message per element. Objects, never strings (the host
// base64-decodes output strings that happen to be valid base64). The host
// enqueues them only after the handler answered; ingestion has recorded
// each finding pending before committing its cursor, so if the outputs are
// lost AuditSweep sends them again (see handleAuditSweep).
func detectionOutputs(fs []detect.Finding) (map[string]any, error) {
	if len(fs) == 0 {
		return map[string]any{}, nil
	}
	msgs := make([]any, 0, len(fs))
	for _, f := range fs {
		b, err := queuemsg.Marshal(f)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, jsonRaw(b))
	}
	return map[string]any{bindingDetections: msgs}, nil
}

type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) { return j, nil }

// blobName finds the blob's name within the audit container: from
// Metadata.Uri (present for both trigger sources; BlobTrigger itself is
// never sent), else from the {name} path parameter.
func blobName(req invokeRequest, containerName string) (string, error) {
	if raw, ok := req.Metadata["Uri"]; ok {
		s, err := hostString(raw)
		if err != nil {
			return "", fmt.Errorf("%w: Metadata.Uri: %v", errBadRequest, err)
		}
		name, err := nameFromURI(s, containerName)
		if err != nil {
			return "", err
		}
		return name, nil
	}
	if raw, ok := req.Metadata["name"]; ok {
		s, err := hostString(raw)
		if err != nil || s == "" {
			return "", fmt.Errorf("%w: Metadata.name is not a string", errBadRequest)
		}
		return checkName(s)
	}
	return "", fmt.Errorf("%w: no Metadata.Uri or Metadata.name", errBadRequest)
}

// nameFromURI accepts https://<acct>.blob.core.windows.net/<container>/<name>
// and path-style URLs (Azurite: http://127.0.0.1:10000/<acct>/<container>/<name>).
func nameFromURI(s, containerName string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: Metadata.Uri %.200q is not a URL", errBadRequest, s)
	}
	segs := strings.SplitN(strings.TrimPrefix(u.Path, "/"), "/", 3)
	for i := 0; i < 2 && i < len(segs)-1; i++ {
		if segs[i] == containerName {
			rest := strings.Join(segs[i+1:], "/")
			return checkName(rest)
		}
	}
	return "", fmt.Errorf("%w: Metadata.Uri %.200q is not in container %q", errBadRequest, s, containerName)
}

func checkName(name string) (string, error) {
	if name == "" || len(name) > ingest.MaxNameLength {
		return "", fmt.Errorf("%w: blob name of %d bytes", errBadRequest, len(name))
	}
	return name, nil
}
