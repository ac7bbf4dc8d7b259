package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// fakeTable is an in-memory table with ETags. conflicts makes the next n
// conditional writes fail with 412 as if another writer had won.
type fakeTable struct {
	mu        sync.Mutex
	rows      map[[2]string]fakeRow
	seq       int
	conflicts int
	calls     map[string]int
	noETag    bool                // list entities without odata.etag
	onDelete  func(pk, rk string) // runs before a delete is applied, unlocked
}

type fakeRow struct {
	etag string
	body []byte
}

func newFakeTable() *fakeTable {
	return &fakeTable{rows: map[[2]string]fakeRow{}, calls: map[string]int{}}
}

func respErr(status int, code string) error {
	return &azcore.ResponseError{StatusCode: status, ErrorCode: code, RawResponse: &http.Response{StatusCode: status}}
}

func (f *fakeTable) GetEntity(_ context.Context, pk, rk string, _ *aztables.GetEntityOptions) (aztables.GetEntityResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["get"]++
	r, ok := f.rows[[2]string{pk, rk}]
	if !ok {
		return aztables.GetEntityResponse{}, respErr(404, string(aztables.ResourceNotFound))
	}
	return aztables.GetEntityResponse{ETag: azcore.ETag(r.etag), Value: r.body}, nil
}

func keyOf(body []byte) [2]string {
	var e struct{ PartitionKey, RowKey string }
	_ = json.Unmarshal(body, &e)
	return [2]string{e.PartitionKey, e.RowKey}
}

func (f *fakeTable) AddEntity(_ context.Context, body []byte, _ *aztables.AddEntityOptions) (aztables.AddEntityResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["add"]++
	k := keyOf(body)
	if _, ok := f.rows[k]; ok {
		return aztables.AddEntityResponse{}, respErr(409, string(aztables.EntityAlreadyExists))
	}
	f.seq++
	f.rows[k] = fakeRow{etag: fmt.Sprintf("W/\"%d\"", f.seq), body: body}
	return aztables.AddEntityResponse{ETag: azcore.ETag(f.rows[k].etag), Value: body}, nil
}

func (f *fakeTable) UpdateEntity(_ context.Context, body []byte, o *aztables.UpdateEntityOptions) (aztables.UpdateEntityResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["update"]++
	k := keyOf(body)
	r, ok := f.rows[k]
	if !ok {
		return aztables.UpdateEntityResponse{}, respErr(404, string(aztables.ResourceNotFound))
	}
	if f.conflicts > 0 {
		f.conflicts--
		return aztables.UpdateEntityResponse{}, respErr(412, string(aztables.UpdateConditionNotSatisfied))
	}
	if o == nil || o.IfMatch == nil || string(*o.IfMatch) != r.etag {
		return aztables.UpdateEntityResponse{}, respErr(412, string(aztables.UpdateConditionNotSatisfied))
	}
	f.seq++
	f.rows[k] = fakeRow{etag: fmt.Sprintf("W/\"%d\"", f.seq), body: body}
	return aztables.UpdateEntityResponse{ETag: azcore.ETag(f.rows[k].etag)}, nil
}

// SubmitTransaction supports Add and UpdateReplace: all or nothing, the
// first refused operation's index in the error like the service. It
// returns no ETags (the store then forgets the keys it wrote).
func (f *fakeTable) SubmitTransaction(_ context.Context, acts []aztables.TransactionAction, _ *aztables.SubmitTransactionOptions) (aztables.TransactionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["batch"]++
	refuse := func(i, status int, code aztables.TableErrorCode) error {
		return &azcore.ResponseError{StatusCode: status, ErrorCode: string(code),
			RawResponse: &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(
				fmt.Sprintf(`{"odata.error":{"code":%q,"message":{"value":"%d:refused"}}}`, code, i)))}}
	}
	for i, a := range acts {
		r, ok := f.rows[keyOf(a.Entity)]
		switch a.ActionType {
		case aztables.TransactionTypeAdd:
			if ok {
				return aztables.TransactionResponse{}, refuse(i, 409, aztables.EntityAlreadyExists)
			}
		case aztables.TransactionTypeUpdateReplace:
			if !ok {
				return aztables.TransactionResponse{}, refuse(i, 404, aztables.ResourceNotFound)
			}
			if f.conflicts > 0 {
				f.conflicts--
				return aztables.TransactionResponse{}, refuse(i, 412, aztables.UpdateConditionNotSatisfied)
			}
			if a.IfMatch == nil || string(*a.IfMatch) != r.etag {
				return aztables.TransactionResponse{}, refuse(i, 412, aztables.UpdateConditionNotSatisfied)
			}
		default:
			return aztables.TransactionResponse{}, fmt.Errorf("fakeTable: transaction action %v not supported", a.ActionType)
		}
	}
	for _, a := range acts {
		f.seq++
		f.rows[keyOf(a.Entity)] = fakeRow{etag: fmt.Sprintf("W/\"%d\"", f.seq), body: a.Entity}
	}
	return aztables.TransactionResponse{}, nil
}

func (f *fakeTable) DeleteEntity(_ context.Context, pk, rk string, o *aztables.DeleteEntityOptions) (aztables.DeleteEntityResponse, error) {
	if f.onDelete != nil {
		f.onDelete(pk, rk)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["delete"]++
	k := [2]string{pk, rk}
	r, ok := f.rows[k]
	if !ok {
		return aztables.DeleteEntityResponse{}, respErr(404, string(aztables.ResourceNotFound))
	}
	if o != nil && o.IfMatch != nil && string(*o.IfMatch) != r.etag {
		return aztables.DeleteEntityResponse{}, respErr(412, string(aztables.UpdateConditionNotSatisfied))
	}
	delete(f.rows, k)
	return aztables.DeleteEntityResponse{}, nil
}

// groupFilter is the filter of a group read (groupRange).
var groupFilter = regexp.MustCompile(`^PartitionKey eq '([^']*)' and RowKey ge '([^']*)' and RowKey lt '([^']*)'$`)

// NewListEntitiesPager supports the filter Prune uses,
// "Expires lt datetime'T'", the group reads' range (whole entities), Top and continuation keys (the first key of
// the next page), in key order like the service. noETag drops odata.etag
// from the listed entities.
func (f *fakeTable) NewListEntitiesPager(o *aztables.ListEntitiesOptions) *runtime.Pager[aztables.ListEntitiesResponse] {
	var from [2]string
	if o != nil && o.NextPartitionKey != nil && o.NextRowKey != nil {
		from = [2]string{*o.NextPartitionKey, *o.NextRowKey}
	}
	done := false
	return runtime.NewPager(runtime.PagingHandler[aztables.ListEntitiesResponse]{
		More: func(aztables.ListEntitiesResponse) bool { return !done },
		Fetcher: func(_ context.Context, prev *aztables.ListEntitiesResponse) (aztables.ListEntitiesResponse, error) {
			if prev != nil {
				from = [2]string{*prev.NextPartitionKey, *prev.NextRowKey}
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls["list"]++
			before := ""
			var rng []string // a group read: PartitionKey, RowKey from, RowKey before
			if o != nil && o.Filter != nil {
				if m := groupFilter.FindStringSubmatch(*o.Filter); m != nil {
					rng = m[1:]
				} else {
					_, v, _ := strings.Cut(*o.Filter, "datetime'")
					before = strings.TrimSuffix(v, "'")
				}
			}
			keys := slices.SortedFunc(maps.Keys(f.rows), func(a, b [2]string) int {
				return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
			})
			var out aztables.ListEntitiesResponse
			for _, k := range keys {
				if k[0] < from[0] || k[0] == from[0] && k[1] < from[1] {
					continue
				}
				if o != nil && o.Top != nil && len(out.Entities) == int(*o.Top) {
					out.NextPartitionKey, out.NextRowKey = &k[0], &k[1]
					return out, nil
				}
				r := f.rows[k]
				if rng != nil {
					if k[0] != rng[0] || k[1] < rng[1] || k[1] >= rng[2] {
						continue
					}
					var m map[string]any
					_ = json.Unmarshal(r.body, &m)
					if !f.noETag {
						m["odata.etag"] = r.etag
					}
					b, _ := json.Marshal(m)
					out.Entities = append(out.Entities, b)
					continue
				}
				var e struct{ Expires string }
				_ = json.Unmarshal(r.body, &e)
				if before != "" && !(e.Expires < before) {
					continue
				}
				m := map[string]string{"PartitionKey": k[0], "RowKey": k[1], "odata.etag": r.etag}
				if f.noETag {
					delete(m, "odata.etag")
				}
				b, _ := json.Marshal(m)
				out.Entities = append(out.Entities, b)
			}
			done = true
			return out, nil
		},
	})
}
