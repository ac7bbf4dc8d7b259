package audit

import (
	"reflect"
	"testing"
)

// recordBytes counts every string and byte slice of a Record: a column
// added to Record without being added there would let a file grow
// pending records past MaxPendingBytes through it.
func TestRecordBytesCountsEveryColumn(t *testing.T) {
	var r Record
	v := reflect.ValueOf(&r).Elem()
	want, n := recordSize, 0
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.String:
			n++
			f.SetString(string(make([]byte, n)))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Uint8:
			n++
			f.SetBytes(make([]byte, n))
		default:
			continue
		}
		want += int64(n)
	}
	if got := recordBytes(&r); got != want {
		t.Errorf("recordBytes = %d, want %d (Record size + the length of each of its %d string and []byte columns)", got, want, n)
	}
}

func TestRecordSizeCountsParts(t *testing.T) {
	r := Record{ObjectName: "abc", Parts: []Record{{Statement: "12345"}, {Statement: "678"}}}
	if got, want := r.Size(), 3*recordSize+3+5+3; got != want {
		t.Errorf("Size() = %d, want %d", got, want)
	}
}
