package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/azclient"
)

// The bounds of one state batch transaction: the service takes 100
// operations and 4 MiB per batch; a state entity is at most about
// MaxStateBytes plus its key columns.
const (
	maxStateBatchOps   = 100
	maxStateBatchBytes = 3 << 20
	// maxBatchResponse bounds the response body kept to read the
	// ETags of a batch (about 300 bytes an operation).
	maxBatchResponse = 256 << 10
)

// stateWrite is one key's write in a batch.
type stateWrite struct {
	up      detect.KeyUpdate
	pk, rk  string
	found   bool
	etag    azcore.ETag // of the copy, when found
	expires time.Time
	entries []detect.Entry
	body    []byte
}

// UpdateMany makes State a detect.BatchState: it writes the keys'
// updates in batch transactions, one partition (a key kind, or an
// address shard) and at most 100 keys a transaction, up to stateCommitParallelism transactions at a
// time, instead of one request a key. Each key starts, as Update does,
// from the copy this State holds (a key it has not seen is assumed
// absent and inserted) and is written under that copy's ETag. A
// transaction is all or nothing: when any of its keys changed meanwhile
// (412), exists already (409) or was pruned (404), none was written, and
// each of its keys goes through Update, which reads afresh and retries.
// The ETags of the written entities are read from the transaction's
// response, so the next update of a key needs no read either.
func (s *State) UpdateMany(ctx context.Context, ups []detect.KeyUpdate) error {
	var (
		groups = map[string][]int{}
		pks    []string
		ws     = make([]stateWrite, len(ups))
	)
	for i, up := range ups {
		if err := s.prepare(&ws[i], up); err != nil {
			return err
		}
		pk := ws[i].pk
		if groups[pk] == nil {
			pks = append(pks, pk)
		}
		groups[pk] = append(groups[pk], i)
	}
	var chunks [][]*stateWrite
	for _, pk := range pks {
		var cur []*stateWrite
		size := 0
		for _, i := range groups[pk] {
			w := &ws[i]
			if len(cur) == maxStateBatchOps || (len(cur) > 0 && size+len(w.body) > maxStateBatchBytes) {
				chunks = append(chunks, cur)
				cur, size = nil, 0
			}
			cur = append(cur, w)
			size += len(w.body)
		}
		chunks = append(chunks, cur)
	}

	return bounded(ctx, len(chunks), func(ctx context.Context, i int) error {
		return s.writeChunk(ctx, chunks[i])
	})
}

// bounded runs f(0) … f(n-1), stateCommitParallelism at a time, and
// returns the first error that is not the cancellation it caused in the
// others; after an error no further f is started.
func bounded(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	sem := make(chan struct{}, stateCommitParallelism)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if errs[i] = f(ctx, i); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	var first error
	for _, err := range errs {
		switch {
		case err == nil:
		case !errors.Is(err, context.Canceled):
			return err
		case first == nil:
			first = err
		}
	}
	return first
}

var _ detect.BatchState = (*State)(nil)

// prepare builds w's entity from the copy this State holds of up's key.
func (s *State) prepare(w *stateWrite, up detect.KeyUpdate) error {
	w.up = up
	w.pk, w.rk = stateKeys(up.Key)
	c, ok := s.recall(w.rk, 0)
	w.found, w.etag = ok && c.found, c.etag
	w.entries = boundEntries(up.Fn(c.entries))
	w.expires = up.Expires
	if w.found && c.expires.After(w.expires) {
		w.expires = c.expires
	}
	body, err := encodeState(w.pk, w.rk, up.Key, w.expires, w.entries)
	w.body = body
	return err
}

// writeChunk writes the keys of one partition in one transaction, or,
// when the transaction is refused, key by key through Update.
func (s *State) writeChunk(ctx context.Context, chunk []*stateWrite) error {
	if len(chunk) == 1 {
		return s.fallback(ctx, chunk)
	}
	acts := make([]aztables.TransactionAction, len(chunk))
	for i, w := range chunk {
		if w.found {
			acts[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateReplace, Entity: w.body, IfMatch: &w.etag}
		} else {
			acts[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: w.body}
		}
	}
	cctx, body := azclient.CaptureBody(ctx, maxBatchResponse)
	_, err := s.c.SubmitTransaction(cctx, acts, nil)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("store: write %d state keys in %s: %w", len(chunk), chunk[0].pk, ctx.Err())
		}
		err = classify(err)
		if IsTransient(err) {
			return fmt.Errorf("store: write %d state keys in %s: %w", len(chunk), chunk[0].pk, err)
		}
		// Refused as a whole (a copy out of date, a key inserted or
		// pruned by another writer): nothing was written.
		return s.fallback(ctx, chunk)
	}
	etags, perr := batchETags(body())
	for i, w := range chunk {
		if perr != nil || len(etags) != len(chunk) || etags[i] == "" {
			s.forget(w.rk) // written, but without its ETag the next write reads first
			continue
		}
		s.remember(w.rk, true, storedState{etag: etags[i], expires: w.expires, entries: w.entries}, len(w.body))
	}
	return nil
}

// fallback writes each key of chunk through Update.
func (s *State) fallback(ctx context.Context, chunk []*stateWrite) error {
	for _, w := range chunk {
		if _, err := s.Update(ctx, w.up.Key, w.up.Expires, w.up.Fn); err != nil {
			return err
		}
	}
	return nil
}

// batchETags reads the ETag of each operation's response, in order,
// from the body of a batch transaction's response (a multipart/mixed
// batch response holding one changeset response).
func batchETags(body []byte) ([]azcore.ETag, error) {
	outer, err := boundary(body)
	if err != nil {
		return nil, err
	}
	part, err := multipart.NewReader(bytes.NewReader(body), outer).NextPart()
	if err != nil {
		return nil, fmt.Errorf("store: batch response: %w", err)
	}
	inner, err := io.ReadAll(io.LimitReader(part, maxBatchResponse))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("store: batch response: %w", err)
	}
	ib, err := boundary(inner)
	if err != nil {
		return nil, err
	}
	mr := multipart.NewReader(bytes.NewReader(inner), ib)
	var etags []azcore.ETag
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) && len(etags) > 0 {
			return etags, nil
		}
		if err != nil {
			return nil, fmt.Errorf("store: batch response: %w", err)
		}
		if len(etags) == maxStateBatchOps {
			return nil, errors.New("store: batch response: too many operations")
		}
		resp, err := http.ReadResponse(bufio.NewReader(p), nil)
		if err != nil {
			return nil, fmt.Errorf("store: batch response: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return nil, fmt.Errorf("store: batch response: operation %d: status %d", len(etags), resp.StatusCode)
		}
		etags = append(etags, azcore.ETag(resp.Header.Get("ETag")))
	}
}

// boundary is the multipart boundary a batch response body opens with
// ("--" boundary, end of line).
func boundary(b []byte) (string, error) {
	line, _, ok := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if !ok || !bytes.HasPrefix(line, []byte("--")) || len(line) < 3 || len(line) > 72 {
		return "", errors.New("store: batch response: no multipart boundary")
	}
	return string(line[2:]), nil
}
