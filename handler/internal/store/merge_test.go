package store

import (
	"errors"
	"iter"
	"slices"
	"strings"
	"testing"
)

// sorted yields keys (each "key/stream") and counts what it has produced.
func sortedStream(stream string, keys []string, produced *int) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for _, k := range keys {
			*produced++
			if !yield(k+"/"+stream, nil) {
				return
			}
		}
	}
}

func mkey(s string) string { k, _, _ := strings.Cut(s, "/"); return k }

// TestMergeSorted: streams sorted each on their own come out as one
// sorted stream; equal keys come out in stream order (deterministic, the
// order QueryEvents relies on to prefer a shard over the legacy copy).
func TestMergeSorted(t *testing.T) {
	inputs := [][]string{
		{"01", "04", "04", "09"},
		{},
		{"02", "04", "10", "11", "12"},
		{"00", "04"},
	}
	var produced int
	streams := make([]iter.Seq2[string, error], len(inputs))
	for i, keys := range inputs {
		streams[i] = sortedStream(string(rune('a'+i)), keys, &produced)
	}
	var got []string
	for v, err := range mergeSorted(streams, func(a, b string) int { return strings.Compare(mkey(a), mkey(b)) }) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	want := []string{"00/d", "01/a", "02/c", "04/a", "04/a", "04/c", "04/d", "09/a", "10/c", "11/c", "12/c"}
	if !slices.Equal(got, want) {
		t.Fatalf("merged\n got %v\nwant %v", got, want)
	}
}

// TestMergeSortedBoundedMemory: the merge holds one element per stream;
// it never reads a stream ahead of what it yields, however long the
// streams are.
func TestMergeSortedBoundedMemory(t *testing.T) {
	const streams, per = 17, 2000
	produced := make([]int, streams)
	seqs := make([]iter.Seq2[string, error], streams)
	for i := range seqs {
		keys := make([]string, per)
		for j := range keys {
			// Interleaved keys: stream i holds j*streams+i.
			keys[j] = strings.Repeat("0", 8-len(mitoa(j*streams+i))) + mitoa(j*streams+i)
		}
		seqs[i] = sortedStream(mitoa(i), keys, &produced[i])
	}
	yielded, maxAhead := 0, 0
	last := ""
	for v, err := range mergeSorted(seqs, func(a, b string) int { return strings.Compare(mkey(a), mkey(b)) }) {
		if err != nil {
			t.Fatal(err)
		}
		if mkey(v) < last {
			t.Fatalf("%s after %s", v, last)
		}
		last = mkey(v)
		yielded++
		total := 0
		for _, n := range produced {
			total += n
		}
		maxAhead = max(maxAhead, total-yielded)
	}
	if yielded != streams*per {
		t.Fatalf("yielded %d, want %d", yielded, streams*per)
	}
	if maxAhead > streams {
		t.Fatalf("the merge read %d elements ahead of what it yielded; want at most one per stream (%d)", maxAhead, streams)
	}
	// Stopping early stops every stream.
	for i := range produced {
		produced[i] = 0
	}
	n := 0
	for range mergeSorted(seqs, func(a, b string) int { return strings.Compare(mkey(a), mkey(b)) }) {
		if n++; n == 5 {
			break
		}
	}
	total := 0
	for _, p := range produced {
		total += p
	}
	if total > 5+streams {
		t.Fatalf("read %d elements for 5 yielded", total)
	}
}

func mitoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// TestMergeSortedError: a stream's error is yielded and ends the merge.
func TestMergeSortedError(t *testing.T) {
	boom := errors.New("boom")
	var produced int
	bad := func(yield func(string, error) bool) {
		if yield("03/x", nil) {
			yield("", boom)
		}
	}
	var got []string
	var gotErr error
	for v, err := range mergeSorted([]iter.Seq2[string, error]{sortedStream("a", []string{"01", "05", "07"}, &produced), bad},
		func(a, b string) int { return strings.Compare(mkey(a), mkey(b)) }) {
		if err != nil {
			gotErr = err
			continue
		}
		got = append(got, v)
	}
	if !errors.Is(gotErr, boom) || !slices.Equal(got, []string{"01/a", "03/x"}) {
		t.Fatalf("got %v, %v; want [01/a 03/x], boom", got, gotErr)
	}
}
