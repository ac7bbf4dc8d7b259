package xel

import (
	"encoding/binary"
	"fmt"
)

func (xr *Reader) corrupt(at int, msg string) error {
	return &FormatError{Offset: xr.bufOff + int64(at), Msg: msg, Err: ErrCorrupt}
}

// decodeEvent decodes the record at xr.p and advances past it.
func (xr *Reader) decodeEvent() (*Event, error) {
	b := xr.buf[:xr.dataEnd]
	p := xr.p
	if len(b)-p < eventHeaderSize {
		return nil, xr.corrupt(p, "event header runs past the buffer data")
	}
	rid := binary.LittleEndian.Uint32(b[p:])
	flags := binary.LittleEndian.Uint32(b[p+4:])
	ticks := binary.LittleEndian.Uint64(b[p+12:])
	plen := int64(binary.LittleEndian.Uint32(b[p+20:]))
	if flags&0x3F != formatVersion {
		return nil, xr.corrupt(p, fmt.Sprintf("event record version %d", flags&0x3F))
	}
	if plen > int64(len(b)-p-eventHeaderSize) {
		return nil, xr.corrupt(p+20, "event payload runs past the buffer data")
	}
	et := xr.lastType
	if rid != xr.lastRID || et == nil || et.gen != xr.md.gen {
		if ridKind(rid) != ridKindEvent {
			return nil, xr.corrupt(p, "event record with a non-event rid")
		}
		et = xr.md.events[ridKey(rid)]
		if et == nil {
			return nil, xr.corrupt(p, fmt.Sprintf("unknown event (package %d, index %d)", ridPkg(rid), ridIndex(rid)))
		}
		if msg := xr.md.resolve(et); msg != "" {
			return nil, xr.corrupt(p, msg)
		}
		xr.lastRID, xr.lastType = rid, et
	}
	ps := p + eventHeaderSize
	pe := ps + int(plen)
	payload := b[ps:pe]

	ev := &xr.ev
	pkg := xr.md.pkgs[et.pkg]
	ev.Package = ""
	if pkg != nil {
		ev.Package = pkg.name
	}
	ev.Name = et.name
	ev.Timestamp = eventTime(pkg, ticks)
	ev.Offset = xr.bufOff
	ev.Index = xr.index
	ev.typ = et
	ev.Fields = ev.Fields[:0]
	ev.Actions = ev.Actions[:0]
	ev.acts = ev.acts[:0]

	for i := range et.fields {
		f := &et.fields[i]
		off := int(f.offset)
		var raw []byte
		if f.size != 0 {
			if off+int(f.size) > len(payload) {
				return nil, xr.corrupt(ps+off, "field "+f.name+" runs past the event payload")
			}
			raw = payload[off : off+int(f.size)]
		} else {
			if off+8 > len(payload) {
				return nil, xr.corrupt(ps+off, "field "+f.name+" descriptor runs past the event payload")
			}
			vo := int64(binary.LittleEndian.Uint32(payload[off:]))
			vl := int64(binary.LittleEndian.Uint32(payload[off+4:]))
			if vl != 0 {
				if vo+vl > int64(len(payload)) {
					return nil, xr.corrupt(ps+off, "field "+f.name+" value runs past the event payload")
				}
				raw = payload[vo : vo+vl]
			}
		}
		var v Value
		if f.m != nil {
			v = Value{Kind: KindMap, Type: f.code, num: leUint(raw), m: f.m}
		} else {
			var ok bool
			v, ok = makeValue(f.code, raw, f.size == 0, xr.md.ptrSize)
			if !ok {
				return nil, xr.corrupt(ps+off, "field "+f.name+" too short for its type")
			}
		}
		ev.Fields = append(ev.Fields, Field{Name: f.name, Value: v})
	}

	p = pe
	if flags&flagActions != 0 {
		for n := 0; ; n++ {
			if len(b)-p < actionEntrySize {
				return nil, xr.corrupt(p, "action list runs past the buffer data")
			}
			arid := binary.LittleEndian.Uint32(b[p:])
			alen := int64(binary.LittleEndian.Uint32(b[p+4:]))
			if ridKind(arid) != ridKindAction {
				p += actionEntrySize
				break
			}
			if n >= xr.opt.MaxFields {
				return nil, tooLarge(xr.bufOff+int64(p), "actions of one event", "MaxFields", int64(xr.opt.MaxFields))
			}
			if alen > int64(len(b)-p-actionEntrySize) {
				return nil, xr.corrupt(p+4, "action value runs past the buffer data")
			}
			raw := b[p+actionEntrySize : p+actionEntrySize+int(alen)]
			ad := xr.md.actions[ridKey(arid)]
			if ad == nil {
				return nil, xr.corrupt(p, fmt.Sprintf("unknown action (package %d, index %d)", ridPkg(arid), ridIndex(arid)))
			}
			v, err := xr.actionValue(ad, raw)
			if err != "" {
				return nil, xr.corrupt(p, "action "+ad.name+": "+err)
			}
			ev.Actions = append(ev.Actions, Field{Name: ad.name, Value: v})
			ev.acts = append(ev.acts, ad)
			p += actionEntrySize + int(alen)
		}
	}
	xr.p = p
	xr.index++
	return ev, nil
}

func (xr *Reader) actionValue(ad *actionDef, raw []byte) (Value, string) {
	switch ridKind(ad.typ) {
	case ridKindMap:
		m := xr.md.maps[ridKey(ad.typ)]
		if m == nil {
			return Value{}, "unknown map"
		}
		if len(raw) < int(m.size) {
			return Value{}, "value too short for its map"
		}
		return Value{Kind: KindMap, Type: mapKeyType(m.size), num: leUint(raw[:m.size]), m: m}, ""
	case ridKindType:
		code := BaseType(ridIndex(ad.typ))
		size, ok := xr.md.types[ridKey(ad.typ)]
		if !ok {
			if size, ok = defaultTypeSize(code); !ok {
				return Value{}, "unknown type"
			}
		}
		if size != 0 {
			if len(raw) < int(size) {
				return Value{}, "value too short for its type"
			}
			raw = raw[:size]
		}
		v, ok := makeValue(code, raw, size == 0, xr.md.ptrSize)
		if !ok {
			return Value{}, "value too short for its type"
		}
		return v, ""
	}
	return Value{}, "bad type reference"
}

// leUint reads up to 8 little-endian bytes as an unsigned integer.
func leUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	case 8:
		return binary.LittleEndian.Uint64(b)
	}
	var x uint64
	for i := len(b) - 1; i >= 0 && i < 8; i-- {
		x = x<<8 | uint64(b[i])
	}
	return x
}

// makeValue interprets raw as a value of base type code. variable tells
// whether raw came from a descriptor (its length is the value's own). A
// zero-length variable value of a fixed-width kind is null. ok is false
// when raw is too short for the type.
func makeValue(code BaseType, raw []byte, variable bool, ptrSize uint8) (Value, bool) {
	v := Value{Type: code}
	switch code {
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64:
		w := 1 << (code - TypeInt8)
		if variable && len(raw) == 0 {
			return v, true
		}
		if len(raw) < w {
			return v, false
		}
		x := leUint(raw[:w])
		shift := uint(64 - 8*w)
		v.Kind, v.num = KindInt, uint64(int64(x<<shift)>>shift)
	case TypeUint8, TypeUint16, TypeUint32, TypeUint64, TypeCPUCycle:
		w := 8
		if code != TypeCPUCycle {
			w = 1 << (code - TypeUint8)
		}
		if variable && len(raw) == 0 {
			return v, true
		}
		if len(raw) < w {
			return v, false
		}
		v.Kind, v.num = KindUint, leUint(raw[:w])
	case TypeFloat32:
		if variable && len(raw) == 0 {
			return v, true
		}
		if len(raw) < 4 {
			return v, false
		}
		v.Kind, v.num = KindFloat32, uint64(binary.LittleEndian.Uint32(raw))
	case TypeFloat64:
		if variable && len(raw) == 0 {
			return v, true
		}
		if len(raw) < 8 {
			return v, false
		}
		v.Kind, v.num = KindFloat64, binary.LittleEndian.Uint64(raw)
	case TypeFiletime:
		if variable && len(raw) == 0 {
			return v, true
		}
		if len(raw) < 8 {
			return v, false
		}
		v.Kind, v.num = KindTime, binary.LittleEndian.Uint64(raw)
	case TypePtr:
		if variable && len(raw) == 0 {
			return v, true
		}
		switch {
		case len(raw) >= 8 && ptrSize != 4:
			v.num, v.ptrSize = binary.LittleEndian.Uint64(raw), 8
		case len(raw) >= 4:
			v.num, v.ptrSize = uint64(binary.LittleEndian.Uint32(raw)), 4
		default:
			return v, false
		}
		v.Kind = KindPointer
	case TypeBoolean:
		if variable && len(raw) == 0 {
			return v, true
		}
		if len(raw) < 1 {
			return v, false
		}
		v.Kind = KindBool
		for _, c := range raw {
			if c != 0 {
				v.num = 1
				break
			}
		}
	case TypeAnsiString, TypeUnicodeString, TypeXML:
		v.Kind, v.raw = KindString, raw
	case TypeGUID, TypeGUIDPtr:
		if len(raw) == 0 {
			return v, true
		}
		if len(raw) < 16 {
			return v, false
		}
		v.Kind, v.raw = KindGUID, raw[:16]
	case TypeCallstack:
		v.Kind, v.raw, v.ptrSize = KindCallstack, raw, ptrSize
	case TypeActivityID, TypeActivityIDXfer:
		if variable && len(raw) == 0 {
			return v, true
		}
		if len(raw) < activityIDSize {
			return v, false
		}
		v.Kind, v.raw, v.num = KindActivityID, raw[:16], uint64(binary.LittleEndian.Uint32(raw[16:]))
	default: // binary_data and types this decoder does not know
		v.Kind, v.raw = KindBinary, raw
	}
	return v, true
}
