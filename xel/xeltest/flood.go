package xeltest

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Flood describes a file that holds only metadata, shaped to make a
// decoder hold as many objects as possible per byte of input: every
// event definition is empty (no name, description or attribute), 20
// bytes in the file. Issue 9's file is Flood{Packages: 48, Events: 65536}
// (63 MB, no events).
type Flood struct {
	Packages int // package records, with package indexes 1, 2, … (at most 1023)
	Events   int // empty event definitions per package (at most 262144)
	// PackagesPerBuffer is how many package records share a metadata
	// buffer (default 1).
	PackagesPerBuffer int
}

// WriteFlood writes the file f describes to w, one buffer at a time.
func WriteFlood(w io.Writer, f Flood) error {
	if f.Packages < 0 || f.Packages > maxPackageIndex || f.Events < 0 || f.Events > maxObjectIndex+1 {
		return fmt.Errorf("xeltest: flood of %d packages × %d events out of range", f.Packages, f.Events)
	}
	per := max(f.PackagesPerBuffer, 1)
	var h [FileHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:], Magic)
	binary.LittleEndian.PutUint16(h[4:], FormatVersion)
	binary.LittleEndian.PutUint16(h[6:], FileHeaderSize)
	if _, err := w.Write(h[:]); err != nil {
		return fmt.Errorf("xeltest: write: %w", err)
	}
	var buf []byte
	for p := 1; p <= f.Packages; p += per {
		buf = append(buf[:0], make([]byte, MetadataDataOffset)...)
		for i := p; i < p+per && i <= f.Packages; i++ {
			buf = floodPackage(buf, i, f.Events)
		}
		data := len(buf) - MetadataDataOffset
		for len(buf)%BufferAlign != 0 {
			buf = append(buf, 0)
		}
		binary.LittleEndian.PutUint32(buf[8:], 0xFFFFFFFF) // sequence -1
		binary.LittleEndian.PutUint16(buf[0x0C:], FormatVersion)
		binary.LittleEndian.PutUint16(buf[0x0E:], bufferTypeMetadata)
		binary.LittleEndian.PutUint32(buf[0x10:], uint32(len(buf)))
		binary.LittleEndian.PutUint16(buf[0x16:], MetadataDataOffset)
		binary.LittleEndian.PutUint32(buf[0x18:], uint32(data))
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("xeltest: write: %w", err)
		}
	}
	return nil
}

// floodPackage appends package index idx with n empty events.
func floodPackage(dst []byte, idx, n int) []byte {
	start := len(dst)
	dst = le16(dst, FormatVersion)
	dst = le32(dst, 0) // size, patched below
	dst = append(dst, make([]byte, 16+2+2+2+4)...)
	dst = le64(dst, Filetime(DefaultClock.Start))
	dst = le64(dst, DefaultClock.Frequency)
	dst = appendObjHeader(dst, 0, 1, rid(ridKindPackage, 0, idx), "flood", "")
	dst = append(dst, make([]byte, 16+16+2)...) // package id, module id, minimum context version
	dst = le32(dst, 0)                          // collection sizes
	dst = le32(dst, uint32(n))
	for i := range n {
		dst = appendObjHeader(dst, 0, 0, rid(ridKindEvent, i, idx), "", "")
		dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0) // no static, customizable, data attributes
	}
	dst = append(dst, make([]byte, 12)...) // no actions, maps, types
	for (len(dst)-start)%8 != 0 {
		dst = append(dst, 0)
	}
	binary.LittleEndian.PutUint32(dst[start+2:], uint32(len(dst)-start))
	return dst
}
