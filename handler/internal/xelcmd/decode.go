package xelcmd

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/sethvargo/go-envconfig"
	"github.com/xelwatch/xelwatch/handler/internal/auditfile"
	"github.com/xelwatch/xelwatch/handler/internal/progress"
	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
)

const usage = `usage: xelwatch decode [--audit] [--format jsonl|csv] PATH...

Decode SQL Server Extended Events files (.xel, .sqlaudit) to stdout.
PATH is a file, a directory (its .xel and .sqlaudit files, in name order,
not recursive) or - for stdin.

  --audit          write normalized audit records (fn_get_audit_file
                   columns) instead of raw events; other events are skipped
  --format FORMAT  jsonl (default): one JSON object per line
                   csv: a header row, then one row per event
                   (name,timestamp,package,file_offset,fields,actions with
                   fields/actions as JSON) or per audit record
  --help           show this help

Only regular files are read (a symbolic link to one is followed). A FIFO,
device, socket, directory, dangling link or link loop named like an audit
file is not opened: one line on stderr says what was skipped and why.
A damaged file's events up to the damage are written, then one stderr line
names the file and the offset, and decoding goes on with the next file.

On a terminal, stderr shows a progress line (bytes of the files, rate,
time left), redrawn in place and cleared at the end; it never goes to
stdout. XELWATCH_PROGRESS=auto (default: only when stderr is a terminal
and stdout is not), always or never.

Exit status: 0 success; 1 when any file was damaged, unreadable or skipped
(the others are still decoded); 2 usage error; 130 on SIGINT, 143 on
SIGTERM (decoding stops at once, what was decoded is written).
`

// Exit statuses.
const (
	exitOK    = 0
	exitInput = 1
	exitUsage = 2
)

// Decode runs the decode subcommand.
func Decode(ctx context.Context, args []string, env envconfig.Lookuper, stdin io.Reader, stdout, stderr io.Writer) int {
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

	pw, err := progress.Writer(env, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "xelwatch decode: %v\n", err)
		return exitUsage
	}
	noun := "events"
	if *auditMode {
		noun = "records"
	}
	tr := &progress.Files{M: progress.New(pw, progress.Options{Label: "decode", Noun: noun})}
	if tr.M != nil {
		tr.M.SetTotal(totalSize(ctx, flags.Args()))
	}
	defer tr.M.Done()

	bw := bufio.NewWriterSize(stdout, 256<<10)
	out := newWriter(bw, *format == "csv", *auditMode)
	status := exitOK
	fail := func(err error) {
		out.flush() // the events before the failure come first
		tr.M.Done() // the message starts its own line; the meter redraws after it
		fmt.Fprintf(stderr, "xelwatch decode: %v\n", err)
		status = exitInput
	}
	for _, arg := range flags.Args() {
		if ctx.Err() != nil {
			break
		}
		for _, name := range expand(ctx, arg, fail) {
			if err := decodeFile(ctx, name, stdin, out, tr); err != nil {
				if ctx.Err() != nil {
					break
				}
				fail(fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	tr.M.Done()
	if err := out.flush(); err != nil && status == exitOK {
		fmt.Fprintf(stderr, "xelwatch decode: write output: %v\n", err)
		status = exitInput
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "xelwatch decode: interrupted: %v\n", context.Cause(ctx))
		status = exitInput
	}
	return status
}

// expand turns a PATH argument into the files to decode; what it leaves
// out of a folder, and a folder it cannot list, go to fail.
func expand(ctx context.Context, arg string, fail func(error)) []string {
	if arg == "-" {
		return []string{"-"}
	}
	if fi, err := os.Stat(arg); err != nil || !fi.IsDir() {
		return []string{arg} // opening it says what is wrong
	}
	files, err := auditfile.Walk(ctx, arg, auditfile.WalkOptions{Skip: fail})
	if err != nil && ctx.Err() == nil {
		fail(fmt.Errorf("%s: %w", arg, err))
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Path
	}
	return names
}

// totalSize is what the progress line counts down: the sizes of the files
// the arguments name (a folder's as Walk lists them), or 0 (unknown) when
// stdin is one of them. Errors are left for decoding to report.
func totalSize(ctx context.Context, args []string) int64 {
	var total int64
	for _, arg := range args {
		if arg == "-" {
			return 0
		}
		fi, err := os.Stat(arg)
		switch {
		case err != nil:
		case fi.IsDir():
			files, _ := auditfile.Walk(ctx, arg, auditfile.WalkOptions{})
			for _, f := range files {
				total += f.Info.Size()
			}
		case fi.Mode().IsRegular():
			total += fi.Size()
		}
	}
	return total
}

func decodeFile(ctx context.Context, name string, stdin io.Reader, out *writer, tr *progress.Files) error {
	var xr *xel.Reader
	var err error
	size := int64(-1)
	defer func() {
		if xr != nil && size < 0 {
			size = xr.End()
		}
		tr.Next(size)
	}()
	if name == "-" {
		in := interruptible(ctx, stdin)
		defer in.Close()
		xr, err = xel.NewReader(bufio.NewReaderSize(in, 1<<20), nil)
	} else {
		f, fi, oerr := auditfile.Open(name)
		if oerr != nil {
			var se *auditfile.SkipError
			if errors.As(oerr, &se) {
				return errors.New(strings.TrimPrefix(se.Error(), se.Path+": "))
			}
			return oerr
		}
		defer f.Close()
		size = fi.Size()
		xr, err = xel.NewReaderAt(f, size, nil)
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
				tr.At(ar.End(), n)
			}
			rec, err := ar.Next()
			if err == io.EOF {
				tr.At(ar.End(), n)
				return nil
			}
			if err != nil {
				return withOffset(err, ar.End())
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
			tr.At(xr.End(), n)
		}
		ev, err := xr.Next()
		if err == io.EOF {
			tr.At(xr.End(), n)
			return nil
		}
		if err != nil {
			return withOffset(err, xr.End())
		}
		if err := out.event(ev); err != nil {
			return err
		}
	}
}

// withOffset adds the offset decoding reached to an error that does not
// carry one (a read error); a *xel.FormatError names its own.
func withOffset(err error, end int64) error {
	var fe *xel.FormatError
	if errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("%w (at offset %d)", err, end)
}

// interruptible reads r in a goroutine so that a read blocked on a pipe
// that never closes (stdin) returns when ctx ends: the decoder sees the
// context's error and the command exits; the blocked goroutine goes with
// the process. Close ends the goroutine at its next read or write.
func interruptible(ctx context.Context, r io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	stop := context.AfterFunc(ctx, func() { pr.CloseWithError(context.Cause(ctx)) })
	go func() {
		_, err := io.Copy(pw, r)
		pw.CloseWithError(err) // nil: io.EOF for the reader
	}()
	return &stopCloser{pr, stop}
}

type stopCloser struct {
	*io.PipeReader
	stop func() bool
}

func (s *stopCloser) Close() error {
	s.stop()
	return s.PipeReader.Close()
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
