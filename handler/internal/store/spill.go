package store

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Continuation entities (see the package doc, "Large records").
const (
	// PropPartOf names the row a continuation entity belongs to (its
	// RowKey); no row has it.
	PropPartOf = "xw_part_of"
	// propColumn and propChunk say which string and which piece of it a
	// continuation entity holds; propValue is the text, split like any
	// long string (value, value_1, …, value_parts).
	propColumn = "xw_column"
	propChunk  = "xw_chunk"
	propValue  = "value"
	// chunkKeySep joins the row's RowKey, the column and the chunk number
	// into a continuation's RowKey, which sorts right after the row's.
	chunkKeySep = "|"
)

// chunkRowKey is the RowKey of continuation i (1-based) of column n of the
// row rk. Event row keys have a fixed length, so it sorts right after rk
// and before any other row.
func chunkRowKey(rk, n string, i int) string {
	return rk + chunkKeySep + n + chunkKeySep + pad4(i)
}

func pad4(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

// text writes statement or additional_information: whole; spilled (the
// first piece in the row, the rest in continuation entities, with the
// length and SHA-256 of the whole in the row); or, in the minimal layout,
// cut.
func (w *entityWriter) text(n, s string) {
	switch {
	case w.l.minimal:
		if t := prefixUnits(s, minimalText); len(t) < len(s) {
			w.describe(n, s)
			w.noteCut(n, s)
			s = t
		}
		w.strWhole(n, s)
	case w.l.spill && len(s) > MaxPieceUnits && utf16Len(s) > MaxPieceUnits:
		if t := prefixUnits(s, maxStoredUnits); len(t) < len(s) {
			w.noteCut(n, s)
			s = t
		}
		head := prefixUnits(s, MaxPieceUnits)
		w.strWhole(n, head)
		w.describe(n, s)
		w.int32(n+"_chunks", int32(w.spill(n, s[len(head):])))
	default:
		w.strWhole(n, s)
	}
}

// describe writes n_length (UTF-16 code units) and n_sha256 (hex SHA-256
// of the UTF-8 text) of s.
func (w *entityWriter) describe(n, s string) {
	w.int64(n+"_length", int64(utf16Len(s)))
	w.strWhole(n+"_sha256", sha256Hex(asStored(s)))
}

// asStored is s as the service stores it: each invalid UTF-8 byte becomes
// U+FFFD (appendJSONString), so that the SHA-256 matches the text read
// back.
func asStored(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// sha256Hex is the hex SHA-256 of s, hashed in bounded pieces (no copy
// of s as a whole).
func sha256Hex(s string) string {
	h := sha256.New()
	var buf [4096]byte
	for len(s) > 0 {
		k := copy(buf[:], s)
		h.Write(buf[:k])
		s = s[k:]
	}
	return hex.EncodeToString(h.Sum(nil))
}

// spill writes rest to continuation entities of column n and returns how
// many: pieces of MaxPieceUnits, packed while an entity stays within
// chunkBudget and maxChunkPieces.
func (w *entityWriter) spill(n, rest string) int {
	first := len(w.chunks)
	var c *entityWriter
	pieces := 0
	flush := func() {
		if c == nil {
			return
		}
		c.int32(propValue+"_parts", int32(pieces))
		c.end()
		w.chunks = append(w.chunks, Entity{PartitionKey: c.pk, RowKey: c.rk, JSON: c.buf, Size: c.size})
		c = nil
	}
	for len(rest) > 0 {
		p := prefixUnits(rest, MaxPieceUnits)
		rest = rest[len(p):]
		if c != nil {
			// Would this piece overflow the entity? Try, roll back if so.
			mark, size, props := len(c.buf), c.size, c.props
			c.strWhole(propValue+"_"+strconv.Itoa(pieces), p)
			if pieces < maxChunkPieces && c.size+64 <= chunkBudget && len(c.buf)+64 <= chunkBudget {
				pieces++
				continue
			}
			c.buf, c.size, c.props = c.buf[:mark], size, props
			flush()
		}
		i := len(w.chunks) - first + 1
		c = &entityWriter{pk: w.pk, rk: chunkRowKey(w.rk, n, i)}
		c.begin(c.pk, c.rk)
		c.strWhole(PropPartOf, w.rk)
		c.strWhole(propColumn, n)
		c.int32(propChunk, int32(i))
		c.strWhole(propValue, p)
		pieces = 1
	}
	flush()
	return len(w.chunks) - first
}

// noteCut records that column n (whole: s) was cut.
func (w *entityWriter) noteCut(n, s string) {
	w.cuts = append(w.cuts, n+" ("+strconv.Itoa(utf16Len(s))+" characters)")
}

// finishDegraded writes xw_degraded when the row is reduced: why, and
// which strings were cut.
func (w *entityWriter) finishDegraded() {
	var parts []string
	switch {
	case w.l.minimal:
		parts = append(parts, "refused by the table service ("+w.l.refused+"): stored reduced, strings cut to "+
			strconv.Itoa(minimalCut)+" characters, statement and additional_information to "+strconv.Itoa(minimalText)+
			" (statement_length, statement_sha256 describe the whole), no continuation")
	case w.l.cut > 0:
		parts = append(parts, "too large for one entity: strings other than statement and additional_information cut to "+
			strconv.Itoa(w.l.cut)+" characters, binary columns to as many bytes")
	case len(w.cuts) > 0:
		parts = append(parts, "longer than stored")
	}
	if len(parts) == 0 {
		return
	}
	if len(w.cuts) > 0 {
		parts = append(parts, "cut: "+strings.Join(w.cuts, ", "))
	}
	w.degraded = prefixUnits(strings.Join(parts, "; "), maxDegraded)
	w.strWhole(PropDegraded, w.degraded)
}

// prefixUnits returns the longest prefix of s of at most n UTF-16 code
// units that does not cut a character.
func prefixUnits(s string, n int) string {
	if len(s) <= n {
		return s // bytes are never fewer than units
	}
	u := 0
	for i, r := range s {
		k := 1
		if r >= 0x10000 {
			k = 2
		}
		if u+k > n {
			return s[:i]
		}
		u += k
	}
	return s
}
