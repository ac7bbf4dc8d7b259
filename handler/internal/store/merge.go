package store

import (
	"container/heap"
	"iter"
)

// mergeSorted merges streams that are each sorted by cmp into one sorted
// stream (a k-way merge on a heap). Equal elements of different streams
// come out in stream order, so the result is deterministic. It holds one
// element per stream (plus whatever each stream buffers itself) and pulls
// the next element of a stream only once its previous one was yielded.
// The first error of any stream is yielded and ends the merge.
func mergeSorted[T any](streams []iter.Seq2[T, error], cmp func(a, b T) int) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		nexts := make([]func() (T, error, bool), len(streams))
		for i, st := range streams {
			next, stop := iter.Pull2(st)
			defer stop()
			nexts[i] = next
		}
		h := &mergeHeap[T]{cmp: cmp}
		for i, next := range nexts {
			v, err, ok := next()
			if err != nil {
				yield(zero, err)
				return
			}
			if ok {
				h.items = append(h.items, mergeHead[T]{v: v, stream: i})
			}
		}
		heap.Init(h)
		for h.Len() > 0 {
			top := h.items[0]
			if !yield(top.v, nil) {
				return
			}
			v, err, ok := nexts[top.stream]()
			switch {
			case err != nil:
				yield(zero, err)
				return
			case ok:
				h.items[0].v = v
				heap.Fix(h, 0)
			default:
				heap.Pop(h)
			}
		}
	}
}

// mergeHead is the next element of one stream.
type mergeHead[T any] struct {
	v      T
	stream int
}

// mergeHeap orders stream heads by cmp, then by stream index.
type mergeHeap[T any] struct {
	items []mergeHead[T]
	cmp   func(a, b T) int
}

func (h *mergeHeap[T]) Len() int { return len(h.items) }
func (h *mergeHeap[T]) Less(i, j int) bool {
	if c := h.cmp(h.items[i].v, h.items[j].v); c != 0 {
		return c < 0
	}
	return h.items[i].stream < h.items[j].stream
}
func (h *mergeHeap[T]) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *mergeHeap[T]) Push(x any)    { h.items = append(h.items, x.(mergeHead[T])) }
func (h *mergeHeap[T]) Pop() any {
	n := len(h.items) - 1
	x := h.items[n]
	h.items = h.items[:n]
	return x
}
