package xel

import "slices"

// Field returns the value of the data field called name.
func (e *Event) Field(name string) (Value, bool) {
	for i := range e.Fields {
		if e.Fields[i].Name == name {
			return e.Fields[i].Value, true
		}
	}
	return Value{}, false
}

// Action returns the value of the action (global field) called name.
func (e *Event) Action(name string) (Value, bool) {
	for i := range e.Actions {
		if e.Actions[i].Name == name {
			return e.Actions[i].Value, true
		}
	}
	return Value{}, false
}

// AppendJSON appends the event as one JSON object in the oracle's
// convention: {"name":…,"timestamp":…,"fields":{…},"actions":{…}}, the
// keys of fields and actions sorted ordinally (UTF-16 code units), no
// whitespace, no trailing newline. It does not allocate once the
// destination has grown (the key order of fields is precomputed per event
// type by the Reader).
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendJSONString(dst, e.Name)
	dst = append(dst, `,"timestamp":"`...)
	dst = appendTimestamp(dst, e.Timestamp)
	dst = append(dst, `","fields":`...)
	dst = e.AppendFieldsJSON(dst)
	dst = append(dst, `,"actions":`...)
	dst = e.AppendActionsJSON(dst)
	return append(dst, '}')
}

// AppendFieldsJSON appends the "fields" object of AppendJSON.
func (e *Event) AppendFieldsJSON(dst []byte) []byte {
	if et := e.typ; et != nil && len(et.order) == len(e.Fields) && len(et.fields) == len(e.Fields) {
		dst = append(dst, '{')
		for n, i := range et.order {
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, et.fields[i].key...)
			dst = e.Fields[i].Value.AppendJSON(dst)
		}
		return append(dst, '}')
	}
	e.scratch = sortedOrder(e.scratch[:0], e.Fields)
	return appendObject(dst, e.Fields, e.scratch)
}

// AppendActionsJSON appends the "actions" object of AppendJSON.
func (e *Event) AppendActionsJSON(dst []byte) []byte {
	e.scratch = sortedOrder(e.scratch[:0], e.Actions)
	if len(e.acts) != len(e.Actions) {
		return appendObject(dst, e.Actions, e.scratch)
	}
	dst = append(dst, '{')
	for n, i := range e.scratch {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, e.acts[i].key...)
		dst = e.Actions[i].Value.AppendJSON(dst)
	}
	return append(dst, '}')
}

// AppendTimestamp appends the event time as YYYY-MM-DDTHH:MM:SS.fffffffZ
// (UTC, 7 decimals), as in AppendJSON.
func (e *Event) AppendTimestamp(dst []byte) []byte { return appendTimestamp(dst, e.Timestamp) }

func appendObject(dst []byte, fs []Field, order []uint16) []byte {
	dst = append(dst, '{')
	for n, i := range order {
		if n > 0 {
			dst = append(dst, ',')
		}
		f := &fs[i]
		dst = appendJSONString(dst, f.Name)
		dst = append(dst, ':')
		dst = f.Value.AppendJSON(dst)
	}
	return append(dst, '}')
}

// sortedOrder appends to order the indexes of fs sorted by name (UTF-16
// ordinal; stable): insertion sort for the usual short lists, a merge
// sort beyond, so that hostile inputs with thousands of actions cannot
// make it quadratic.
func sortedOrder(order []uint16, fs []Field) []uint16 {
	n := min(len(fs), 0x10000)
	if n > 24 {
		for i := range n {
			order = append(order, uint16(i))
		}
		slices.SortStableFunc(order, func(a, b uint16) int {
			switch {
			case lessUTF16(fs[a].Name, fs[b].Name):
				return -1
			case lessUTF16(fs[b].Name, fs[a].Name):
				return 1
			}
			return 0
		})
		return order
	}
	for i := range n {
		order = append(order, uint16(i))
		for j := len(order) - 1; j > 0 && lessUTF16(fs[order[j]].Name, fs[order[j-1]].Name); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	return order
}
