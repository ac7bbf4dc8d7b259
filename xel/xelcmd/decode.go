package xelcmd

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
)

const usage = `usage: xelwatch decode [--audit] [--format jsonl|csv] PATH...

Decode SQL Server Extended Events files (.xel, .sqlaudit) to stdout.
PATH is a file, a directory (its .xel and .sqlaudit files, in name order)
or - for stdin.

  --audit          write normalized audit records (fn_get_audit_file
                   columns) instead of raw events; other events are skipped
  --format FORMAT  jsonl (default): one JSON object per line
                   csv: a header row, then one row per event
                   (name,timestamp,package,file_offset,fields,actions with
                   fields/actions as JSON) or per audit record
  --help           show this help

Exit status: 0 success, 1 damaged or unreadable input (events before the
damage are written), 2 usage error.
`

// Exit statuses.
const (
	exitOK    = 0
	exitInput = 1
	exitUsage = 2
)

// Decode runs the decode subcommand.
func Decode(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("decode", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	auditMode := flags.Bool("audit", false, "")
	format := flags.String("format", "jsonl", "")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "xelwatch decode: %v\n%s", err, usage)
		return exitUsage
	}
	if *format != "jsonl" && *format != "csv" {
		fmt.Fprintf(stderr, "xelwatch decode: unknown format %q (want jsonl or csv)\n%s", *format, usage)
		return exitUsage
	}
	if flags.NArg() == 0 {
		fmt.Fprintf(stderr, "xelwatch decode: no PATH given\n%s", usage)
		return exitUsage
	}

	bw := bufio.NewWriterSize(stdout, 256<<10)
	out := newWriter(bw, *format == "csv", *auditMode)
	status := exitOK
	for _, arg := range flags.Args() {
		names, err := expand(arg)
		if err != nil {
			fmt.Fprintf(stderr, "xelwatch decode: %s: %v\n", arg, err)
			status = exitInput
			break
		}
		failed := false
		for _, name := range names {
			if err := decodeFile(ctx, name, stdin, out); err != nil {
				out.flush()
				fmt.Fprintf(stderr, "xelwatch decode: %s: %v\n", name, err)
				failed = true
				break
			}
		}
		if failed {
			status = exitInput
			break
		}
	}
	if err := out.flush(); err != nil && status == exitOK {
		fmt.Fprintf(stderr, "xelwatch decode: write output: %v\n", err)
		status = exitInput
	}
	return status
}

// expand turns a PATH argument into the files to decode.
func expand(arg string) ([]string, error) {
	if arg == "-" {
		return []string{"-"}, nil
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{arg}, nil
	}
	entries, err := os.ReadDir(arg) // sorted by name
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if ext != ".xel" && ext != ".sqlaudit" {
			continue
		}
		path := filepath.Join(arg, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
				continue
			}
		} else if !e.Type().IsRegular() {
			continue
		}
		names = append(names, path)
	}
	return names, nil
}

func decodeFile(ctx context.Context, name string, stdin io.Reader, out *writer) error {
	var xr *xel.Reader
	var err error
	if name == "-" {
		xr, err = xel.NewReader(bufio.NewReaderSize(stdin, 1<<20), nil)
	} else {
		f, oerr := os.Open(name)
		if oerr != nil {
			return oerr
		}
		defer f.Close()
		fi, serr := f.Stat()
		if serr != nil {
			return serr
		}
		xr, err = xel.NewReaderAt(f, fi.Size(), nil)
	}
	if err != nil {
		return err
	}
	if out.audit {
		ar := audit.NewReader(xr, name, &audit.ReaderOptions{FlushIncomplete: true})
		for n := 0; ; n++ {
			if n&1023 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			rec, err := ar.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := out.record(rec); err != nil {
				return err
			}
		}
	}
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ev, err := xr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := out.event(ev); err != nil {
			return err
		}
	}
}

// writer formats events or audit records as JSON Lines or CSV.
type writer struct {
	w      *bufio.Writer
	csv    *csv.Writer
	audit  bool
	header bool
	buf    []byte
	row    []string
}

func newWriter(w *bufio.Writer, asCSV, auditMode bool) *writer {
	out := &writer{w: w, audit: auditMode}
	if asCSV {
		out.csv = csv.NewWriter(w)
	}
	return out
}

func (o *writer) writeHeader() error {
	if o.header {
		return nil
	}
	o.header = true
	if o.audit {
		return o.csv.Write(audit.CSVHeader())
	}
	return o.csv.Write([]string{"name", "timestamp", "package", "file_offset", "fields", "actions"})
}

func (o *writer) event(ev *xel.Event) error {
	if o.csv == nil {
		o.buf = append(ev.AppendJSON(o.buf[:0]), '\n')
		_, err := o.w.Write(o.buf)
		return err
	}
	if err := o.writeHeader(); err != nil {
		return err
	}
	o.row = append(o.row[:0], ev.Name, string(ev.AppendTimestamp(o.buf[:0])), ev.Package,
		strconv.FormatInt(ev.Offset, 10), string(ev.AppendFieldsJSON(o.buf[:0])), string(ev.AppendActionsJSON(o.buf[:0])))
	return o.csv.Write(o.row)
}

func (o *writer) record(rec *audit.Record) error {
	if o.csv == nil {
		o.buf = append(rec.AppendJSON(o.buf[:0]), '\n')
		_, err := o.w.Write(o.buf)
		return err
	}
	if err := o.writeHeader(); err != nil {
		return err
	}
	o.row = rec.AppendCSV(o.row[:0])
	return o.csv.Write(o.row)
}

func (o *writer) flush() error {
	if o.csv != nil {
		o.csv.Flush()
		if err := o.csv.Error(); err != nil {
			return err
		}
	}
	return o.w.Flush()
}
