package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xelwatch/xelwatch/xel/audit"
)

const (
	// KeySep separates the components of a PartitionKey or RowKey.
	KeySep = '|'
	// escapeChar starts an escape: '!' + two upper-case hex digits.
	escapeChar = '!'
	// maxKeyUnits is the service limit on a key: 1 KiB of UTF-16.
	maxKeyUnits = 512
	// hourLayout and timeLayout format the time parts of the event keys.
	hourLayout = "2006010215"
)

// mustEscape reports whether r may not appear literally in a key component.
func mustEscape(r rune) bool {
	switch r {
	case '/', '\\', '#', '?', '\'', '%', KeySep, escapeChar, 0xFFFE, 0xFFFF, utf8.RuneError:
		return true
	}
	return r < 0x20 || (r >= 0x7F && r <= 0x9F)
}

// EscapeKey makes s safe as a key component (see the package doc): every
// forbidden or special character becomes '!' and two hex digits per UTF-8
// byte. It is reversible with UnescapeKey and does not bound the length.
func EscapeKey(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if mustEscape(r) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if mustEscape(r) {
			for j := 0; j < n; j++ {
				fmt.Fprintf(&b, "%c%02X", escapeChar, s[i+j])
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// UnescapeKey reverses EscapeKey. It fails on a malformed escape and on a
// key that was shortened by the length limit ("!~" + hash).
func UnescapeKey(s string) (string, error) {
	if strings.IndexByte(s, escapeChar) < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != escapeChar {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("store: key %q: truncated escape at byte %d", s, i)
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("store: key %q: bad escape at byte %d (a shortened key cannot be unescaped)", s, i)
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), nil
}

// utf16Len counts the UTF-16 code units of s (invalid bytes count as one).
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// limitKey keeps a full key within the service's 512 UTF-16 code units:
// a longer key is cut on a rune boundary and ends in "!~" + 16 hex digits
// of SHA-256 of the whole key, which is collision-safe because "!~" cannot
// come out of EscapeKey.
func limitKey(key string) string { return limitUnits(key, maxKeyUnits) }

// maxComponentUnits bounds server and database in an event partition key,
// so that the shard and hour suffix always survive: 2×240 + 3 + 3 + 10 <
// 512.
const maxComponentUnits = 240

// limitUnits cuts key to at most max UTF-16 code units the same way.
func limitUnits(key string, max int) string {
	if len(key) <= max || utf16Len(key) <= max {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	suffix := string(escapeChar) + "~" + hex.EncodeToString(sum[:8])
	budget := max - len(suffix)
	n, cut := 0, 0
	for i, r := range key {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > budget {
			break
		}
		n += w
		cut = i + utf8.RuneLen(r)
	}
	return key[:cut] + suffix
}

// EventShards is how many partitions the rows of one database-hour are
// spread over. It is part of the key scheme, not a setting: a record's
// shard is a function of its row key (eventShard), so a replay upserts
// the same entity, and QueryEvents reads exactly these shards. Changing
// it is a new key scheme (see the package doc, "Migration").
const EventShards = 16

// shardPrefix starts the shard component of an event partition key: it
// is not a digit, so a sharded key never falls inside the hour range of a
// legacy (unsharded) key of the same database.
const shardPrefix = 's'

// eventShard is the shard of the row with row key rk: FNV-1a (32 bits)
// of the row key, modulo EventShards. Row keys hold the event time, file
// hash, buffer offset and event index, so consecutive records of a file
// spread evenly over the shards.
func eventShard(rk string) int {
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(rk); i++ {
		h ^= uint32(rk[i])
		h *= prime
	}
	return int(h % EventShards)
}

// shardKey is the shard component of a partition key: "s" and two hex
// digits.
func shardKey(shard int) string {
	const hexDigits = "0123456789abcdef"
	return string([]byte{shardPrefix, hexDigits[shard>>4&0xF], hexDigits[shard&0xF]})
}

// EventPartitionKey is the AuditEvents partition of the row with row key
// rk (EventRowKey) of server and database at t:
// "<server>|<database>|s<shard>|yyyyMMddHH", the shard (2 hex digits,
// below EventShards) derived from rk and the hour the UTC hour of t.
func EventPartitionKey(server, database, rk string, t time.Time) string {
	return eventPartitionPrefix(server, database) + shardKey(eventShard(rk)) + string(KeySep) + t.UTC().Format(hourLayout)
}

// LegacyEventPartitionKey is the partition key rows had before they were
// spread over shards, "<server>|<database>|yyyyMMddHH". Nothing writes
// it any more; QueryEvents still reads these partitions (see the package
// doc, "Migration").
func LegacyEventPartitionKey(server, database string, t time.Time) string {
	return eventPartitionPrefix(server, database) + t.UTC().Format(hourLayout)
}

// eventPartitionPrefix is "<server>|<database>|", each part escaped and
// bounded to maxComponentUnits.
func eventPartitionPrefix(server, database string) string {
	return eventServerPrefix(server) + limitUnits(EscapeKey(database), maxComponentUnits) + string(KeySep)
}

// eventServerPrefix is "<server>|", escaped and bounded.
func eventServerPrefix(server string) string {
	return limitUnits(EscapeKey(server), maxComponentUnits) + string(KeySep)
}

// timeKey is the 21-digit time prefix of a row key: yyyyMMddHHmmss and the
// 100 ns ticks of the second (7 digits), the precision of Edm.DateTime.
func timeKey(t time.Time) string {
	t = t.UTC()
	var b [21]byte
	dst := t.AppendFormat(b[:0], "20060102150405")
	return fmt.Sprintf("%s%07d", dst, t.Nanosecond()/100)
}

// FileHash is the 16 hex digits of SHA-256 of a file name used in row keys.
func FileHash(fileName string) string {
	sum := sha256.Sum256([]byte(fileName))
	return hex.EncodeToString(sum[:8])
}

// EventRowKey is the deterministic AuditEvents row key of rec:
// "<yyyyMMddHHmmssfffffff>|<FileHash(file)>|<offset %016x>|<index %08x>".
// file is rec.FileName, or fallback when that is empty.
func EventRowKey(rec *audit.Record, fallback string) string {
	file := rec.FileName
	if file == "" {
		file = fallback
	}
	return rowKey(rec, FileHash(file))
}

func rowKey(rec *audit.Record, fileHash string) string {
	return fmt.Sprintf("%s%c%s%c%016x%c%08x", timeKey(rec.EventTime), KeySep, fileHash, KeySep,
		uint64(rec.AuditFileOffset), KeySep, uint32(rec.EventIndex))
}

// CursorKeys returns the AuditCursors keys of a blob.
func CursorKeys(container, blob string) (pk, rk string) {
	return limitKey(EscapeKey(container)), limitKey(EscapeKey(blob))
}

// detectionKeys returns the Detections keys of a detection id.
func detectionKeys(id string) (pk, rk string) {
	return limitKey(EscapeKey(id)), "detection"
}
