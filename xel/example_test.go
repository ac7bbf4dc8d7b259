package xel

import (
	"bytes"
	"fmt"
	"log"
	"os"
)

func ExampleReader_All() {
	file, _ := synthFile() // an .xel file in memory; os.Open works the same
	r, err := NewReader(bytes.NewReader(file), nil)
	if err != nil {
		log.Fatal(err)
	}
	for ev, err := range r.All() {
		if err != nil {
			log.Fatal(err) // a *FormatError naming the file offset
		}
		fmt.Printf("%s.%s at %s (buffer %d, #%d)\n", ev.Package, ev.Name,
			ev.Timestamp.Format("15:04:05.0000000"), ev.Offset, ev.Index)
	}
	// Output:
	// test.all_types at 00:00:01.2345678 (buffer 4096, #0)
	// test.qpc_event at 01:46:40.0000000 (buffer 4096, #1)
	// zero.zero_event at 00:00:00.0000005 (buffer 4096, #2)
	// late.late_event at 00:00:00.0000000 (buffer 6656, #0)
	// test.added at 00:00:01.0000000 (buffer 6656, #1)
	// test.all_types at 00:00:00.0000000 (buffer 6656, #2)
}

func ExampleEvent_AppendJSON() {
	file, _ := synthFile()
	r, err := NewReaderAt(bytes.NewReader(file), int64(len(file)), nil)
	if err != nil {
		log.Fatal(err)
	}
	var line []byte
	for ev, err := range r.All() {
		if err != nil {
			log.Fatal(err)
		}
		if ev.Name == "qpc_event" {
			line = ev.AppendJSON(line[:0]) // reuse one buffer: no allocation per event
			os.Stdout.Write(append(line, '\n'))
		}
	}
	// Output:
	// {"name":"qpc_event","timestamp":"2051-09-09T01:46:40.0000000Z","fields":{"n":42},"actions":{}}
}
