package store_test

import (
	"fmt"
	"time"

	"github.com/xelwatch/xelwatch/handler/internal/store"
	"github.com/xelwatch/xelwatch/xel/audit"
)

func ExampleEscapeKey() {
	k := store.EscapeKey("srv/1|o'brien")
	back, _ := store.UnescapeKey(k)
	fmt.Println(k)
	fmt.Println(back)
	// Output:
	// srv!2F1!7Co!27brien
	// srv/1|o'brien
}

// The file hash is the first 16 hex digits of SHA-256 of the file name:
// printf f.xel | sha256sum.
func ExampleEventRowKey() {
	at := time.Date(2026, 11, 21, 20, 31, 39, 123456700, time.UTC)
	rec := &audit.Record{EventTime: at, FileName: "f.xel", AuditFileOffset: 0x1000, EventIndex: 2}
	fmt.Println(store.EventPartitionKey("srv1", "db1", store.EventRowKey(rec, ""), at))
	fmt.Println(store.EventRowKey(rec, ""))
	// Output:
	// srv1|db1|s06|2026112120
	// 202611212031391234567|463750509ed456dd|0000000000001000|00000002
}

// One range scan per shard (s00 … s0f), then one over the legacy
// unsharded partitions; QueryEvents merges them in event-time order.
func ExampleEventQuery_Filters() {
	q := store.EventQuery{
		Server: "srv1", Database: "db1", ActionID: "BA",
		From: time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC),
		To:   time.Date(2026, 11, 21, 22, 30, 0, 0, time.UTC),
	}
	f, _ := q.Filters()
	fmt.Println(len(f))
	fmt.Println(f[0])
	fmt.Println(f[len(f)-1])
	// Output:
	// 17
	// PartitionKey ge 'srv1|db1|s00|2026112120' and RowKey ge '202611212000000000000' and PartitionKey le 'srv1|db1|s00|2026112122' and RowKey lt '202611212230000000000' and action_id eq 'BA'
	// PartitionKey ge 'srv1|db1|2026112120' and RowKey ge '202611212000000000000' and PartitionKey le 'srv1|db1|2026112122' and RowKey lt '202611212230000000000' and action_id eq 'BA'
}
